package sse

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/wirespeed/wirespeed/pubsub"
)

// ServeHTTP opens an event stream and returns when it ends, or, on
// HTTP/1.1 with net/http's own ResponseWriter, once the stream has taken
// over the connection (see the package doc). Before the stream starts it
// answers 405 for a method other than GET, 403 for a cross-origin request
// OriginPatterns do not allow, the TopicsFunc's error, 400 for more than
// MaxTopics distinct topics or a topic name over MaxTopicLen, 500 when
// ClientIP panics, and 503 with Retry-After at a connection limit or while
// shutting down. The resume point is the Last-Event-ID header, else the
// lastEventID query parameter; one that is not a message ID is reported
// lost (see the package doc).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "sse: event streams are opened with GET", http.StatusMethodNotAllowed)
		return
	}
	ok, cross := s.core.CheckOrigin(w, r)
	if !ok {
		return
	}
	if cross {
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Add("Vary", "Origin")
	}
	topics, err := s.opt.Topics(r)
	if err == nil && len(topics) == 0 {
		err = &StatusError{Code: http.StatusBadRequest, Message: "no topics for this request"}
	}
	if err == nil {
		topics, err = s.distinct(topics)
	}
	if err != nil {
		s.st.rejectedTopics.Add(1)
		code, msg := http.StatusForbidden, "sse: forbidden"
		if se := (*StatusError)(nil); errors.As(err, &se) {
			msg = se.Error()
			if se.Code >= 400 && se.Code <= 599 {
				code = se.Code
			}
		}
		http.Error(w, msg, code)
		return
	}
	ip, ok := s.core.Admit(w, r)
	if !ok {
		return
	}
	c := s.newConn(r, ip, hijackable(w, r))
	if !c.add() {
		s.core.Release(ip)
		s.core.Refuse(w)
		return
	}
	// stream's big frame is gone before run parks, so an idle stream's
	// handler goroutine parks on a shallow stack that the GC shrinks.
	rc := http.NewResponseController(w)
	reason, ok := s.stream(w, rc, r, c, topics)
	if ok && c.raw != nil {
		return // the stream owns its connection now: its writer ends it
	}
	if ok {
		reason = c.run(w, rc, r.Context().Done())
	}
	s.finish(c, reason)
}

// distinct returns topics without repeats (a repeated topic would be
// replayed twice), in their first order, or a 400 when there are more
// than MaxTopics or one is longer than MaxTopicLen. It does not modify
// topics, which the TopicsFunc may share between requests.
func (s *Server) distinct(topics []string) ([]string, error) {
	if len(topics) == 1 {
		if len(topics[0]) > MaxTopicLen {
			return nil, errTopicTooLong
		}
		return topics, nil
	}
	limit := s.opt.MaxTopics
	out := make([]string, 0, min(len(topics), max(limit, 0), 64))
	var seen map[string]struct{} // past a few topics a linear search costs more
	for _, t := range topics {
		if len(t) > MaxTopicLen {
			return nil, errTopicTooLong
		}
		if seen != nil {
			if _, dup := seen[t]; dup {
				continue
			}
		} else if slices.Contains(out, t) {
			continue
		}
		if len(out) == limit {
			return nil, &StatusError{Code: http.StatusBadRequest, Message: "too many topics; at most " + strconv.Itoa(limit) + " per stream"}
		}
		out = append(out, t)
		if seen == nil && len(out) > 32 {
			seen = make(map[string]struct{}, len(out))
			for _, o := range out {
				seen[o] = struct{}{}
			}
		} else if seen != nil {
			seen[t] = struct{}{}
		}
	}
	return out, nil
}

// stream subscribes c, sends the headers and the first block and starts
// the replays; ok is false (with the reason) when the stream ended already.
//
//go:noinline
func (s *Server) stream(w http.ResponseWriter, rc *http.ResponseController, r *http.Request, c *conn, topics []string) (reason CloseReason, ok bool) {
	from := r.Header.Get("Last-Event-ID")
	if q := r.URL.RawQuery; from == "" && (strings.Contains(q, "astEventID") || strings.Contains(q, "%")) { // spares most streams a parse
		from = r.URL.Query().Get("lastEventID")
	}
	lost := false
	if from != "" && !messageID(from) {
		from, lost = "", true // not ours: tell the client, go live
	}
	var subs []pubsub.Subscription
	defer func() {
		for _, sub := range subs {
			if sub != nil {
				sub.Close()
			}
		}
	}()
	if from != "" {
		s.st.resumed.Add(1)
		for _, name := range topics {
			sub, err := s.core.Broker().Subscribe(c.setup, name, from)
			if err != nil {
				http.Error(w, "sse: broker unavailable; retry later", http.StatusServiceUnavailable)
				return ReasonError, false
			}
			subs = append(subs, sub)
			lost = lost || sub.Lost()
		}
	}
	anchor := ""
	for _, name := range topics {
		a, err := s.join(c, r, name, from == "")
		if err != nil {
			// The error names the topic, which may come from the client:
			// it stays out of the body.
			msg := "sse: broker unavailable; retry later"
			if errors.Is(err, ErrServerClosed) {
				msg = "sse: server shutting down; retry later"
			}
			w.Header().Set("Retry-After", s.core.RetryAfter())
			http.Error(w, msg, http.StatusServiceUnavailable)
			return ReasonError, false
		}
		if anchor == "" || pubsub.CompareIDs(a, anchor) < 0 {
			anchor = a
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if lost {
		s.st.resumedLost.Add(1)
		h.Set(HeaderLost, "true")
	}
	var first []byte
	if s.opt.Retry > 0 {
		first, _ = AppendEvent(first, Event{Retry: s.opt.Retry})
	}
	if from == "" {
		// A live stream starts after anchor: an id-only block (which
		// dispatches nothing) sets the client's last event ID, so a stream
		// cut before its first event still resumes where it joined.
		first, _ = AppendEvent(first, Event{ID: anchor})
	}
	if lost && s.opt.LostEvent != "-" {
		// from is a message ID (at most maxIDLen bytes) or "": what the
		// client sent is echoed only when it was an ID.
		first, _ = AppendEvent(first, Event{Type: s.opt.LostEvent, Data: []byte(from)})
	}
	if c.raw != nil {
		if err := c.hijack(w, first); err != nil {
			return ReasonError, false // writing stays taken: nothing writes
		}
	} else {
		w.WriteHeader(http.StatusOK)
		res := make(chan error, 1)
		go c.writeFirst(w, rc, first, res)
		if err := <-res; err != nil {
			return ReasonError, false
		}
	}
	c.replaying.Store(int32(len(subs)))
	for i, sub := range subs {
		subs[i] = nil // the replay owns it now
		name := topics[i]
		c.replays.Go(func() {
			defer c.replayDone()
			s.replay(c, name, sub, from)
		})
	}
	if len(subs) == 0 {
		c.endSetup()
	}
	if s.opt.OnConnect != nil && !s.core.Call(func() { s.opt.OnConnect(r, topics, from) }) {
		c.abort(errCallback) // counted; the writer ends the stream
	}
	if c.raw != nil {
		if s.opt.OnClose == nil {
			c.r = nil // nothing needs the request any more
		}
		c.startRaw()
	}
	return "", true
}

// maxIDLen is the length of the longest message ID, "<ms>-<seq>" with
// two 20-digit uint64s: anything longer is not an ID.
const maxIDLen = 41

// messageID reports whether a client's Last-Event-ID is a message ID the
// broker can resume from, checking the length before parsing.
func messageID(id string) bool { return len(id) <= maxIDLen && pubsub.ValidID(id) }
