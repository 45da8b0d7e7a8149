package sse

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// Server streams the messages of pubsub topics to clients as Server-Sent
// Events. It is an http.Handler; each stream runs on its request's handler
// goroutine, which writes the events. All methods are safe for concurrent
// use.
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

	mu      sync.Mutex // protects the fields below
	conns   map[*conn]struct{}
	perIP   map[string]int
	topics  map[string]*topic
	closing bool
	wg      sync.WaitGroup // fan-out goroutines

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
	}
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

// ServeHTTP opens an event stream and returns when it ends. Before the
// stream starts it answers 405 for a method other than GET, 403 for a
// cross-origin request OriginPatterns do not allow, 503 with Retry-After
// at a connection limit or while shutting down, and the TopicsFunc's
// error. The resume point is the Last-Event-ID header, else the
// lastEventID query parameter.
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
	c := s.newConn(r)
	if !s.reserve(c) {
		s.st.rejected.Add(1)
		w.Header().Set("Retry-After", s.retryAfter)
		http.Error(w, "sse: too many connections; retry later", http.StatusServiceUnavailable)
		return
	}
	s.st.opened.Add(1)
	reason := s.stream(w, r, c, topics)
	s.finish(c, reason)
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

// stream subscribes c, sends the headers and runs the writer loop.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, c *conn, topics []string) CloseReason {
	from := r.Header.Get("Last-Event-ID")
	if from == "" {
		from = r.URL.Query().Get("lastEventID")
	}
	requested, lost := from, false
	if from != "" && !pubsub.ValidID(from) {
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
			sub, err := s.broker.Subscribe(c.ctx, name, from)
			if err != nil {
				http.Error(w, "sse: broker unavailable; retry later", http.StatusServiceUnavailable)
				return ReasonError
			}
			subs = append(subs, sub)
			lost = lost || sub.Lost()
		}
	}
	anchor := ""
	for _, name := range topics {
		a, err := s.join(c, name, from == "")
		if err != nil {
			w.Header().Set("Retry-After", s.retryAfter)
			http.Error(w, "sse: "+err.Error(), http.StatusServiceUnavailable)
			return ReasonError
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
	w.WriteHeader(http.StatusOK)
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
		id := requested
		if !ValidID(id) {
			id = ""
		}
		first, _ = AppendEvent(first, Event{Type: s.opt.LostEvent, Data: []byte(id)})
	}
	rc := http.NewResponseController(w)
	if err := c.write(w, rc, first); err != nil {
		return ReasonError
	}
	for i, sub := range subs {
		subs[i] = nil // the replay owns it now
		name := topics[i]
		c.replays.Go(func() { s.replay(c, name, sub, from) })
	}
	if s.opt.OnConnect != nil {
		s.opt.OnConnect(r, topics, from)
	}
	return c.writeLoop(w, rc)
}

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
	return true
}

// finish tears c down after its writer returned.
func (s *Server) finish(c *conn, reason CloseReason) {
	c.cancel(errStreamEnded)
	c.q.CloseWithError(errStreamEnded)
	c.replays.Wait()
	s.mu.Lock()
	for name, t := range c.topics {
		delete(t.members, c)
		if len(t.members) == 0 && t.ready == nil && s.topics[name] == t {
			delete(s.topics, name)
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
	if s.opt.OnClose != nil {
		s.opt.OnClose(c.r, reason)
	}
	close(c.ended)
}

// join adds c to a topic, subscribing the server to the broker for the
// first local stream of the topic. A live member gets the fan-out at once;
// otherwise its replay switches it over. It returns the ID after which a
// live member's events begin.
func (s *Server) join(c *conn, name string, live bool) (string, error) {
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
			case <-c.ctx.Done():
				return "", context.Cause(c.ctx)
			}
		}
		if t != nil {
			t.members[c] = &member{live: live}
			c.topics[name] = t
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

		sub, err := s.broker.Subscribe(c.ctx, name, "")

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
			t.members[c] = &member{live: live}
			c.topics[name] = t
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
		for _, c := range targets {
			c.push(frame, key, t.policy)
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
		m, err := sub.Next(c.ctx)
		if errors.Is(err, pubsub.ErrLagged) {
			c.abort(errLagged)
			return
		}
		if err != nil {
			return
		}
		frame := s.encode(name, m)
		err = c.q.Push(c.ctx, sendq.Item[[]byte]{Value: frame, Size: len(frame), Policy: Block})
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
	t := c.topics[name]
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
// http.Server.Shutdown waits for handlers to return, and an event stream
// returns only when it ends, so wire it in with [Server.RegisterOnShutdown].
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

// conn is one open stream.
type conn struct {
	s      *Server
	r      *http.Request
	ip     string
	ctx    context.Context
	cancel context.CancelCauseFunc
	q      *sendq.Queue[[]byte]
	topics map[string]*topic // guarded by Server.mu
	bye    atomic.Pointer[[]byte]

	replays sync.WaitGroup
	ended   chan struct{}
}

var (
	errStreamEnded = errors.New("sse: stream ended")
	errShutdown    = errors.New("sse: server shutting down")
	errLagged      = errors.New("sse: stream fell behind the broker; the client resumes from its last ID")
)

func (s *Server) newConn(r *http.Request) *conn {
	ctx, cancel := context.WithCancelCause(r.Context())
	c := &conn{s: s, r: r, ip: s.opt.ClientIP(r), ctx: ctx, cancel: cancel, topics: map[string]*topic{}, ended: make(chan struct{})}
	q, err := sendq.New[[]byte](&sendq.Options{
		Policy:       s.opt.Policy,
		MaxMessages:  s.opt.QueueMessages,
		MaxBytes:     s.opt.QueueBytes,
		BlockTimeout: s.opt.BlockTimeout,
		OnDrop: func(_ any, why sendq.DropReason) {
			switch why {
			case sendq.DroppedOldest:
				s.st.droppedOldest.Add(1)
			case sendq.DroppedNewest:
				s.st.droppedNewest.Add(1)
			case sendq.Coalesced:
				s.st.coalesced.Add(1)
			case sendq.DroppedTooLarge:
				s.st.droppedTooLarge.Add(1)
			}
		},
	})
	if err != nil {
		panic(err) // options were validated by NewServer
	}
	c.q = q
	return c
}

func (c *conn) push(frame []byte, key string, policy Policy) {
	c.q.Push(c.ctx, sendq.Item[[]byte]{Value: frame, Size: len(frame), Key: key, Policy: policy})
}

// abort ends the stream without a goodbye.
func (c *conn) abort(cause error) {
	c.cancel(cause)
}

// goAway ends the stream after what is queued, then bye.
func (c *conn) goAway(bye []byte) {
	c.bye.Store(&bye)
	c.q.Close()
}

// write sends b and flushes it within the write timeout.
func (c *conn) write(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	if err := rc.SetWriteDeadline(time.Now().Add(c.s.opt.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if err := rc.Flush(); err != nil {
		return err
	}
	c.s.st.bytesOut.Add(uint64(len(b)))
	return nil
}

// writeLoop writes queued events, batching what is ready into one write
// and flush, and heartbeats when idle. It returns why the stream ended.
func (c *conn) writeLoop(w http.ResponseWriter, rc *http.ResponseController) CloseReason {
	st := &c.s.st
	hb := c.s.opt.Heartbeat
	wait, stop := c.ctx, context.CancelFunc(nil)
	rearm := func(d time.Duration) {
		if stop != nil {
			stop()
		}
		wait, stop = context.WithTimeout(c.ctx, d)
	}
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	if hb > 0 {
		rearm(hb)
	}
	lastWrite := time.Now()
	var buf []byte
	for {
		it, err := c.q.Next(wait)
		if err != nil {
			switch {
			case c.ctx.Err() == nil && wait.Err() != nil: // heartbeat tick
				idle := time.Since(lastWrite)
				if idle >= hb-hb/10 {
					buf = append(buf[:0], ":\n\n"...)
					if err := c.write(w, rc, buf); err != nil {
						return writeReason(err)
					}
					st.heartbeats.Add(1)
					lastWrite, idle = time.Now(), 0
				}
				rearm(hb - idle)
				continue
			case errors.Is(err, sendq.ErrClosed) && c.ctx.Err() == nil:
				if bye := c.bye.Load(); bye != nil {
					c.write(w, rc, *bye)
				}
				return ReasonShutdown
			case errors.Is(err, sendq.ErrSlowConsumer):
				return ReasonSlowConsumer
			}
			switch context.Cause(c.ctx) {
			case errShutdown:
				return ReasonShutdown
			case errLagged:
				return ReasonLagged
			}
			return ReasonClient
		}
		buf = append(buf[:0], it.Value...)
		n := 1
		for len(buf) < 32<<10 {
			it, ok := c.q.TryNext()
			if !ok {
				break
			}
			buf = append(buf, it.Value...)
			n++
		}
		if err := c.write(w, rc, buf); err != nil {
			return writeReason(err)
		}
		st.eventsOut.Add(uint64(n))
		lastWrite = time.Now()
		if cap(buf) > 64<<10 {
			buf = nil
		}
	}
}

func writeReason(err error) CloseReason {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ReasonWriteTimeout
	}
	return ReasonError
}
