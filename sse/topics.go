package sse

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// join adds c to a topic, subscribing the server to the broker for the
// first local stream of the topic. A live member gets the fan-out at once;
// otherwise its replay switches it over. It returns the ID after which a
// live member's events begin.
func (s *Server) join(c *conn, r *http.Request, name string, live bool) (string, error) {
	var anchor string
	_, err := s.core.Join(c.setup, name, &connserver.Joiner[*conn, *member]{
		Add: func(t *topic) {
			if t.Members[c] == nil {
				c.topics = append(c.topics, t)
			}
			t.Members[c] = &member{live: live}
			t.Gen++
			anchor = t.Anchor()
		},
		Cancel: r.Context().Done(),
	})
	if errors.Is(err, connserver.ErrClosing) {
		return "", ErrServerClosed
	}
	return anchor, err
}

// maxInlineLag is how far behind its publisher a fan-out may always be
// and still write to streams inline (see hijack.go); further behind, it
// writes inline only while it is less than a message behind.
const maxInlineLag = 2 * time.Millisecond

// fanOut copies a topic's messages into its live streams' queues, or
// writes them inline; it ends when the subscription is closed. Its state
// lives here rather than on its goroutine's stack, so that a
// runtime.Goexit in EventType or TopicKey, which ends the goroutine, loses
// nothing: another goes on with the message (see redo).
type fanOut struct {
	s       *Server
	t       *topic
	targets []*conn
	prev    time.Time                // publish time of the previous message
	iw      *connserver.InlineWriter // nil where inline writes are not supported
	m       pubsub.Message           // the message being dispatched
	redo    bool                     // a callback ended the goroutine during m: dispatch it with no type and key
}

// startFanOut starts a topic's fan-out; the core calls it with its Mu
// held once the topic's broker subscription is made.
func (s *Server) startFanOut(t *topic) {
	f := &fanOut{s: s, t: t, iw: connserver.NewInlineWriter()}
	s.core.WG.Go(f.run)
}

func (f *fanOut) run() {
	returned := false
	defer func() {
		if !returned { // EventType or TopicKey called runtime.Goexit (counted)
			f.redo = true
			f.s.core.WG.Go(f.run)
		}
	}()
	ctx := context.Background()
	if f.redo {
		f.redo = false
		f.dispatch(f.s.frame(f.m, ""), "")
	}
	for {
		m, err := f.t.Sub.Next(ctx)
		if lag := (*pubsub.LagError)(nil); errors.As(err, &lag) {
			f.lagged(lag)
			continue
		}
		if err != nil {
			returned = true
			return
		}
		f.m = m
		typ, key := f.callbacks(m)
		f.dispatch(f.s.frame(m, typ), key)
	}
}

// lagged tells the topic's live streams that the fan-out fell behind the
// broker's buffer and missed messages: the lost event (data: the last ID
// before the gap). A client that must not miss anything resynchronises.
func (f *fanOut) lagged(lag *pubsub.LagError) {
	s, t := f.s, f.t
	s.core.Counters.BrokerSkipped.Add(max(lag.Missed, 1))
	if s.opt.LostEvent == "-" {
		return
	}
	notice, _ := AppendEvent(nil, Event{Type: s.opt.LostEvent, Data: []byte(lag.LastID)})
	s.core.Mu.Lock()
	for c, mb := range t.Members {
		if mb.live {
			f.targets = append(f.targets, c)
		}
	}
	s.core.Mu.Unlock()
	for _, c := range f.targets {
		c.push(notice, "", t.Policy)
	}
	clear(f.targets)
	f.targets = f.targets[:0]
}

// callbacks runs EventType and TopicKey for m. A panic in one is counted
// and means its default ("" type, no key); a runtime.Goexit is counted and
// ends this goroutine, and run's deferred call dispatches m on the next.
func (f *fanOut) callbacks(m pubsub.Message) (typ, key string) {
	s, t := f.s, f.t
	if s.opt.EventType != nil {
		s.core.Recover(func() { typ = s.opt.EventType(t.Name, m.Data) })
	}
	if t.Policy == sendq.CoalesceByKey || s.core.Config().Policy == sendq.CoalesceByKey {
		key = t.Name
		if s.opt.TopicKey != nil && !s.core.Recover(func() { key = s.opt.TopicKey(t.Name, m.Data) }) {
			key = ""
		}
	}
	return typ, key
}

// dispatch writes or queues frame, m's event, to the topic's live streams.
func (f *fanOut) dispatch(frame []byte, key string) {
	s, t, m := f.s, f.t, f.m
	s.core.Mu.Lock()
	t.LastID = m.ID
	for c, mb := range t.Members {
		if !mb.live {
			continue
		}
		if mb.skip != "" {
			if pubsub.CompareIDs(m.ID, mb.skip) <= 0 {
				continue
			}
			mb.skip = ""
		}
		f.targets = append(f.targets, c)
	}
	s.core.Mu.Unlock()
	cc := chunkCache{frame: frame}
	var inline uint64
	// Writing inline is one system call per stream and message: what
	// a live feed wants, but a fan-out more than a message behind
	// (a burst) does better queueing, so that each stream's writer
	// sends its backlog in one write.
	lag := time.Since(m.Time)
	direct := f.iw != nil && (lag < maxInlineLag || lag < m.Time.Sub(f.prev))
	f.prev = m.Time
	for _, c := range f.targets {
		if direct && c.raw != nil && c.offer(f.iw, cc.get()) {
			inline++
			continue
		}
		c.push(frame, key, t.Policy)
	}
	if inline > 0 {
		s.st.eventsOut.Add(inline)
		s.core.Counters.BytesOut.Add(inline * uint64(len(cc.chunk)))
	}
	clear(f.targets)
	f.targets = f.targets[:0]
}

// frame encodes m as an event of type typ.
func (s *Server) frame(m pubsub.Message, typ string) []byte {
	ev := Event{ID: m.ID, Data: m.Data, Type: typ}
	if ev.Data == nil {
		ev.Data = []byte{}
	}
	b, err := AppendEvent(make([]byte, 0, len(m.Data)+len(m.ID)+len(ev.Type)+24), ev)
	if err != nil { // an EventType with a line break: send it as a message
		ev.Type = ""
		b, _ = AppendEvent(b[:0], ev)
	}
	return b
}
