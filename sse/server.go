package sse

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// Server streams the messages of pubsub topics to clients as Server-Sent
// Events. It is an http.Handler. On HTTP/1.1 a stream takes over its
// connection and the handler returns (an idle stream costs one goroutine
// reading the connection); otherwise it lives on its request's handler
// goroutine (see the package doc, Connections and goroutines).
// All methods are safe for concurrent use.
//
// The server subscribes to each topic once (while it has streams) and
// copies every message into the send queue of each stream; a stream that
// resumes from an ID replays the broker's history on a goroutine of its
// own until it has caught up with that fan-out, then joins it.
type Server struct {
	opt        ServerOptions
	broker     pubsub.Broker
	ownBroker  bool
	retryAfter string

	epoch  time.Time                   // conn.lastWrite counts from it
	onDrop func(any, sendq.DropReason) // every queue's OnDrop

	mu      sync.Mutex // protects the fields below
	conns   map[*conn]struct{}
	perIP   map[string]int
	topics  map[string]*topic
	closing bool
	ticking bool           // tickLoop runs (started with the first stream)
	tickOff bool           // tickLoop has ended: writers do not linger
	wg      sync.WaitGroup // fan-out goroutines and tickLoop
	done    chan struct{}  // closed when Close begins: ends tickLoop

	lingerC atomic.Pointer[chan struct{}] // closed and replaced every lingerTick by tickLoop; set under mu, read without it
	writers atomic.Int64                  // writer goroutines running (for tests)

	closeOnce sync.Once
	closeErr  error

	st counters
}

// topic is a topic with local streams; guarded by Server.mu.
type topic struct {
	name    string
	policy  Policy
	sub     pubsub.Subscription // nil while ready is not
	ready   chan struct{}       // non-nil while the broker subscription is being made
	lastID  string              // the last ID the fan-out dispatched
	startID string              // an ID just before the broker subscription began
	members map[*conn]*member
}

// member is a stream's place in a topic; guarded by Server.mu.
type member struct {
	live bool   // receives the fan-out (false while replaying)
	skip string // fan-out messages up to this ID were replayed already
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a server; a nil opts means defaults. It returns an
// error for invalid options or when the default broker cannot be made.
func NewServer(opts *ServerOptions) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opt:        o,
		broker:     o.Broker,
		conns:      make(map[*conn]struct{}),
		perIP:      make(map[string]int),
		topics:     make(map[string]*topic),
		retryAfter: strconv.Itoa(int((o.RetryAfter + time.Second - 1) / time.Second)),
		epoch:      time.Now(),
		done:       make(chan struct{}),
	}
	s.onDrop = s.st.drops.Count
	if s.broker == nil {
		m, err := pubsub.NewMemory(nil)
		if err != nil {
			return nil, fmt.Errorf("sse: default broker: %w", err)
		}
		s.broker, s.ownBroker = m, true
	}
	s.st.closed = make(map[CloseReason]uint64)
	return s, nil
}

// Publish sends data to every stream subscribed to topic on every server
// sharing the broker and returns the message's ID, which is the event's
// id field. ctx bounds the broker call only. The server keeps data; do not
// modify it afterwards.
func (s *Server) Publish(ctx context.Context, topicName string, data []byte) (string, error) {
	if s.isClosing() {
		return "", ErrServerClosed
	}
	id, err := s.broker.Publish(ctx, topicName, data)
	if err != nil {
		return "", fmt.Errorf("sse: publish to %q: %w", topicName, err)
	}
	return id, nil
}

// ServeHTTP opens an event stream and returns when it ends, or, on
// HTTP/1.1 with net/http's own ResponseWriter, once the stream has taken
// over the connection (see the package doc). Before the
// stream starts it answers 405 for a method other than GET, 403 for a
// cross-origin request OriginPatterns do not allow, 503 with Retry-After
// at a connection limit or while shutting down, the TopicsFunc's error,
// and 400 for more than MaxTopics distinct topics. The resume point is the
// Last-Event-ID header, else the lastEventID query parameter; one that is
// not a message ID is reported lost (see the package doc).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "sse: event streams are opened with GET", http.StatusMethodNotAllowed)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		ok, cross := s.originAllowed(origin, r.Host)
		if !ok {
			s.st.rejectedOrigin.Add(1)
			http.Error(w, "sse: cross-origin stream not allowed; add the page's host to OriginPatterns", http.StatusForbidden)
			return
		}
		if cross {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Add("Vary", "Origin")
		}
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
	c := s.newConn(r, hijackable(w, r))
	if !s.reserve(c) {
		s.st.rejected.Add(1)
		w.Header().Set("Retry-After", s.retryAfter)
		http.Error(w, "sse: too many connections; retry later", http.StatusServiceUnavailable)
		return
	}
	s.st.opened.Add(1)
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
// than MaxTopics. It does not modify topics, which the TopicsFunc may
// share between requests.
func (s *Server) distinct(topics []string) ([]string, error) {
	if len(topics) == 1 {
		return topics, nil
	}
	limit := s.opt.MaxTopics
	out := make([]string, 0, min(len(topics), limit))
	var seen map[string]struct{} // past a few topics a linear search costs more
	for _, t := range topics {
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

func (s *Server) originAllowed(origin, host string) (ok, cross bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false, true
	}
	if strings.EqualFold(u.Host, host) {
		return true, false
	}
	for _, p := range s.opt.OriginPatterns {
		if m, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); m {
			return true, true
		}
	}
	return false, true
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
			sub, err := s.broker.Subscribe(c.setup, name, from)
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
			w.Header().Set("Retry-After", s.retryAfter)
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
	if s.opt.OnConnect != nil {
		s.opt.OnConnect(r, topics, from)
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

// reserve registers c against the limits, false when over one or closing.
func (s *Server) reserve(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.opt.MaxConns > 0 && len(s.conns) >= s.opt.MaxConns {
		return false
	}
	if s.opt.MaxConnsPerIP > 0 && s.perIP[c.ip] >= s.opt.MaxConnsPerIP {
		return false
	}
	s.perIP[c.ip]++
	s.conns[c] = struct{}{}
	if !s.ticking {
		s.ticking = true
		s.wg.Go(s.tickLoop)
	}
	return true
}

// heartbeatTicks is how often per Heartbeat tickLoop looks for idle
// streams: a stream gets a comment after between 15/16 and 16/16 of a
// Heartbeat without a write.
const heartbeatTicks = 16

// heartbeatFrame is the comment written to an idle stream; the writer
// tells it from events by its address.
var heartbeatFrame = []byte(":\n\n")

// tickLoop is the server's clock, one goroutine and no timer per stream.
// Every Heartbeat/heartbeatTicks it queues a heartbeat for every stream
// idle for about a Heartbeat: into the stream's priority lane (never
// dropped, never blocking, at most one queued per stream), which its
// writer writes with the same write deadline as events. Every lingerTick
// it ends idle writers' lingering. It ends when Close begins.
func (s *Server) tickLoop() {
	defer func() {
		s.mu.Lock()
		s.tickOff = true
		s.mu.Unlock()
		s.tickLinger()
	}()
	linger := time.NewTicker(lingerTick)
	defer linger.Stop()
	hb := s.opt.Heartbeat
	var beats <-chan time.Time
	if hb > 0 {
		tick := time.NewTicker(max(hb/heartbeatTicks, time.Millisecond))
		defer tick.Stop()
		beats = tick.C
	}
	idle := int64(hb - hb/heartbeatTicks)
	var due []*conn
	for {
		select {
		case <-beats:
		case <-linger.C:
			s.tickLinger()
			continue
		case <-s.done:
			return
		}
		now := s.now()
		s.mu.Lock()
		for c := range s.conns {
			if now-c.lastWrite.Load() >= idle && !c.hbQueued.Load() {
				due = append(due, c)
			}
		}
		s.mu.Unlock()
		for _, c := range due {
			if c.offer(heartbeatChunk) {
				s.st.heartbeats.Add(1)
				s.st.bytesOut.Add(uint64(len(heartbeatChunk)))
				continue
			}
			if c.hbQueued.CompareAndSwap(false, true) {
				c.enqueue(sendq.Item[[]byte]{Value: heartbeatFrame, Size: len(heartbeatFrame), Priority: true})
			}
		}
		clear(due)
		due = due[:0]
	}
}

// maxInlineLag is how far behind its publisher a fan-out may always be
// and still write to streams inline (see hijack.go); further behind, it
// writes inline only while it is less than a message behind.
const maxInlineLag = 2 * time.Millisecond

// lingerTick is how long an idle writer goroutine waits for more events,
// at most, before it exits.
const lingerTick = 100 * time.Millisecond

func (s *Server) tickLinger() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.lingerC.Swap(nil); c != nil {
		close(*c)
	}
}

// lingerChan returns the channel closed at the next linger tick; after a
// tick every idle writer asks for it at once, so the common case takes no
// lock.
func (s *Server) lingerChan() <-chan struct{} {
	if c := s.lingerC.Load(); c != nil {
		return *c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.lingerC.Load(); c != nil {
		return *c
	}
	c := make(chan struct{})
	if !s.ticking || s.tickOff { // no tickLoop to close it: do not linger
		close(c)
		return c
	}
	s.lingerC.Store(&c)
	return c
}

// now is the time since the server was made, for conn.lastWrite.
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }

// finish tears c down after its writer returned.
func (s *Server) finish(c *conn, reason CloseReason) {
	c.abort(errStreamEnded)
	c.replays.Wait()
	s.mu.Lock()
	for _, t := range c.topics {
		delete(t.members, c)
		if len(t.members) == 0 && t.ready == nil && s.topics[t.name] == t {
			delete(s.topics, t.name)
			t.sub.Close()
		}
	}
	delete(s.conns, c)
	if s.perIP[c.ip] <= 1 {
		delete(s.perIP, c.ip)
	} else {
		s.perIP[c.ip]--
	}
	s.mu.Unlock()
	s.st.closedBy(reason)
	defer close(c.ended) // also after a runtime.Goexit in OnClose
	if s.opt.OnClose != nil {
		s.callback(func() { s.opt.OnClose(c.r, reason) })
	}
}

// callback runs a user callback on a server goroutine (OnClose runs on a
// writer for streams that own their connection): a panic or
// runtime.Goexit in it is counted in Stats.CallbackPanics, and a panic is
// recovered. A Goexit cannot be stopped; the caller's defers run.
func (s *Server) callback(f func()) {
	done := false
	defer func() {
		if !done {
			recover()
			s.st.callbackPanics.Add(1)
		}
	}()
	f()
	done = true
}

// join adds c to a topic, subscribing the server to the broker for the
// first local stream of the topic. A live member gets the fan-out at once;
// otherwise its replay switches it over. It returns the ID after which a
// live member's events begin.
func (s *Server) join(c *conn, r *http.Request, name string, live bool) (string, error) {
	for {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return "", ErrServerClosed
		}
		t := s.topics[name]
		if t != nil && t.ready != nil {
			ready := t.ready
			s.mu.Unlock()
			select {
			case <-ready:
				continue
			case <-c.setup.Done():
				return "", context.Cause(c.setup)
			case <-r.Context().Done():
				return "", r.Context().Err()
			}
		}
		if t != nil {
			c.addTopicLocked(t, live)
			anchor := t.anchor()
			s.mu.Unlock()
			return anchor, nil
		}
		policy := s.opt.TopicPolicy[name]
		// The fan-out delivers what is published after Subscribe; IDs
		// start with the publish time, so one millisecond before now is
		// a lower bound for them (a stream resuming from it may get a few
		// messages from that millisecond it never saw, none twice).
		start := strconv.FormatInt(time.Now().UnixMilli()-1, 10)
		t = &topic{name: name, policy: policy, startID: start, members: make(map[*conn]*member), ready: make(chan struct{})}
		s.topics[name] = t
		s.mu.Unlock()

		sub, err := s.broker.Subscribe(c.setup, name, "")

		s.mu.Lock()
		close(t.ready)
		t.ready = nil
		switch {
		case err != nil:
			delete(s.topics, name)
		case s.closing:
			delete(s.topics, name)
			sub.Close()
		default:
			t.sub = sub
			c.addTopicLocked(t, live)
			s.wg.Go(func() { s.fanOut(t) })
		}
		closing := s.closing
		anchor := t.anchor()
		s.mu.Unlock()
		switch {
		case err != nil:
			return "", fmt.Errorf("subscribe to %q: %w", name, err)
		case closing:
			return "", ErrServerClosed
		}
		return anchor, nil
	}
}

// anchor is the ID after which a member joining now gets the fan-out.
// Call with Server.mu held.
func (t *topic) anchor() string {
	if t.lastID != "" {
		return t.lastID
	}
	return t.startID
}

// fanOut copies a topic's messages into its live streams' queues; it ends
// when the subscription is closed.
func (s *Server) fanOut(t *topic) {
	ctx := context.Background()
	var targets []*conn
	var prev time.Time // publish time of the previous message
	for {
		m, err := t.sub.Next(ctx)
		if lag := (*pubsub.LagError)(nil); errors.As(err, &lag) {
			// The fan-out fell behind the broker's buffer: its live
			// streams miss what was discarded. Tell them with the lost
			// event (data: the last ID before the gap) and go on; a
			// client that must not miss anything resynchronises.
			s.st.brokerSkipped.Add(max(lag.Missed, 1))
			if s.opt.LostEvent == "-" {
				continue
			}
			notice, _ := AppendEvent(nil, Event{Type: s.opt.LostEvent, Data: []byte(lag.LastID)})
			s.mu.Lock()
			for c, mb := range t.members {
				if mb.live {
					targets = append(targets, c)
				}
			}
			s.mu.Unlock()
			for _, c := range targets {
				c.push(notice, "", t.policy)
			}
			clear(targets)
			targets = targets[:0]
			continue
		}
		if err != nil {
			return
		}
		frame := s.encode(t.name, m)
		key := ""
		if t.policy == CoalesceByKey || s.opt.Policy == CoalesceByKey {
			key = t.name
			if s.opt.TopicKey != nil {
				key = s.opt.TopicKey(t.name, m.Data)
			}
		}
		s.mu.Lock()
		t.lastID = m.ID
		for c, mb := range t.members {
			if !mb.live {
				continue
			}
			if mb.skip != "" {
				if pubsub.CompareIDs(m.ID, mb.skip) <= 0 {
					continue
				}
				mb.skip = ""
			}
			targets = append(targets, c)
		}
		s.mu.Unlock()
		cc := chunkCache{frame: frame}
		var inline uint64
		// Writing inline is one system call per stream and message: what
		// a live feed wants, but a fan-out more than a message behind
		// (a burst) does better queueing, so that each stream's writer
		// sends its backlog in one write.
		lag := time.Since(m.Time)
		direct := lag < maxInlineLag || lag < m.Time.Sub(prev)
		prev = m.Time
		for _, c := range targets {
			if direct && c.raw != nil && c.offer(cc.get()) {
				inline++
				continue
			}
			c.push(frame, key, t.policy)
		}
		if inline > 0 {
			s.st.eventsOut.Add(inline)
			s.st.bytesOut.Add(inline * uint64(len(cc.chunk)))
		}
		clear(targets)
		targets = targets[:0]
	}
}

// replay sends a resuming stream the history of one topic after from, then
// hands it over to the topic's fan-out once it has reached what the
// fan-out dispatched.
func (s *Server) replay(c *conn, name string, sub pubsub.Subscription, from string) {
	defer sub.Close()
	if s.switchLive(c, name, from) {
		return
	}
	for {
		m, err := sub.Next(c.setup)
		if errors.Is(err, pubsub.ErrLagged) {
			c.abort(errLagged)
			return
		}
		if err != nil {
			return
		}
		frame := s.encode(name, m)
		err = c.q.Push(c.setup, sendq.Item[[]byte]{Value: frame, Size: len(frame), Policy: Block})
		c.kick()
		if err != nil && !errors.Is(err, sendq.ErrTooLarge) {
			return
		}
		s.st.replayed.Add(1)
		if s.switchLive(c, name, m.ID) {
			return
		}
	}
}

// switchLive makes c a live member of the topic if the replay has reached
// id and id is at or past the last message the fan-out dispatched. It
// returns true also when c is no longer a member.
func (s *Server) switchLive(c *conn, name, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := c.topicLocked(name)
	if t == nil {
		return true
	}
	mb := t.members[c]
	if mb == nil {
		return true
	}
	if t.lastID == "" || pubsub.CompareIDs(id, t.lastID) < 0 {
		return false
	}
	mb.live, mb.skip = true, id
	return true
}

func (s *Server) encode(topicName string, m pubsub.Message) []byte {
	ev := Event{ID: m.ID, Data: m.Data}
	if ev.Data == nil {
		ev.Data = []byte{}
	}
	if s.opt.EventType != nil {
		ev.Type = s.opt.EventType(topicName, m.Data)
	}
	b, err := AppendEvent(make([]byte, 0, len(m.Data)+len(m.ID)+len(ev.Type)+24), ev)
	if err != nil { // an EventType with a line break: send it as a message
		ev.Type = ""
		b, _ = AppendEvent(b[:0], ev)
	}
	return b
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Shutdown stops accepting streams (new requests get 503) and ends every
// open stream gracefully: its queued events are written, then a retry
// field chosen at random across ServerOptions.ShutdownWindow (so clients
// reconnect to the next instance spread over the window), the optional
// ShutdownEvent and a comment, and the response ends. It waits for the
// streams to end, then releases the server like Close. If ctx ends first,
// the remaining streams are cut and Shutdown returns ctx.Err() after
// joining them. Safe to call more than once and together with Close.
//
// http.Server.Shutdown does not end event streams (a handler returns only
// when its stream ends, and a stream that owns its connection is not
// tracked by http.Server at all), so wire it in with
// [Server.RegisterOnShutdown].
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.snapshot()
	win := s.opt.ShutdownWindow
	for _, c := range conns {
		retry := win/10 + rand.N(win-win/10+1)
		bye, _ := AppendEvent(nil, Event{Retry: retry})
		if s.opt.ShutdownEvent != "" {
			bye, _ = AppendEvent(bye, Event{Type: s.opt.ShutdownEvent, Data: []byte("shutdown")})
		}
		bye = AppendComment(bye, "server shutting down; reconnect")
		c.goAway(bye)
	}
	var err error
	for _, c := range conns {
		select {
		case <-c.ended:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	s.Close()
	return err
}

// RegisterOnShutdown arranges for srv.Shutdown to call s.Shutdown with a
// context bounded by timeout (a non-positive timeout means 10s), so the
// server's drain ends the streams instead of waiting for them.
// srv.Shutdown runs it on a goroutine of its own and does not wait for the
// streams that own their connections (HTTP/1.1): call s.Shutdown or
// s.Close afterwards to wait for them.
func (s *Server) RegisterOnShutdown(srv *http.Server, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		s.Shutdown(ctx)
	})
}

// Close cuts every stream at once (see Shutdown for the graceful way),
// closes the broker if the server made it, and waits for every goroutine
// the server started and every stream's handler to end. Idempotent; later
// calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		conns := s.snapshot()
		close(s.done)
		for _, c := range conns {
			c.abort(errShutdown)
		}
		for _, c := range conns {
			<-c.ended
		}
		s.mu.Lock()
		for name, t := range s.topics {
			if t.sub != nil {
				t.sub.Close()
			}
			delete(s.topics, name)
		}
		s.mu.Unlock()
		s.wg.Wait()
		if s.ownBroker {
			s.closeErr = s.broker.Close()
		}
	})
	return s.closeErr
}
