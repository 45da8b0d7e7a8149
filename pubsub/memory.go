package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/pubsub/internal/history"
)

// MemoryOptions configures [NewMemory]. A nil *MemoryOptions is valid and
// means all defaults; NewMemory copies it.
type MemoryOptions struct {
	// MaxMessages is how many messages each topic retains for replay and
	// for subscribers that are behind. Defaults to 1024.
	MaxMessages int
	// MaxBytes bounds the payload bytes each topic retains. Defaults to
	// 4 MiB; negative means no byte bound (MaxMessages still applies).
	MaxBytes int
	// MaxAge drops messages older than this from history; a topic whose
	// history aged out and that has no subscribers is forgotten (checked
	// every MaxAge/2, between 1s and 1m). Zero (the default) keeps
	// messages until MaxMessages or MaxBytes push them out, so a topic
	// published to stays. Negative is rejected.
	MaxAge time.Duration
	// MaxTopics bounds the topics that publishers created: a Publish that
	// would give one more topic a history gets [ErrTooManyTopics].
	// Subscribers never count against it and never get that error, so
	// they cannot stop a publisher: a topic that only has subscribers
	// costs no history, only its subscriptions (which their owners bound,
	// e.g. the topics per connection of ws and sse), and is forgotten
	// when its last subscriber leaves. A topic published to counts until
	// it has neither subscribers nor retained messages (see MaxAge).
	// Retained memory is at most MaxTopics × MaxBytes plus per-message
	// overhead. Defaults to 10000; zero or negative means the default.
	MaxTopics int
	// Now is the clock for IDs and MaxAge. Defaults to time.Now.
	Now func() time.Time
}

// MemoryStats is a snapshot of a [Memory] broker.
type MemoryStats struct {
	Topics          int    // topics that exist now: published to, or subscribed
	PublishedTopics int    // topics published to and not forgotten (what MaxTopics bounds)
	Subscribers     int    // open subscriptions
	Retained        int    // messages held across all topics
	RetainedBytes   int    // payload bytes held across all topics
	Published       uint64 // messages published since NewMemory
	Evicted         uint64 // messages dropped from history by its bounds
	Lagged          uint64 // times a subscriber was told it lagged
}

// Memory is an in-process [Broker]. Each topic keeps a bounded history
// that is also every subscriber's buffer: Publish appends and returns at
// once, each subscription reads at its own position, and one that falls
// further behind than the history reaches gets a [LagError] (see the
// package doc). Safe for concurrent use.
type Memory struct {
	opt   MemoryOptions
	start history.ID // IDs below it come from before this broker existed

	mu        sync.Mutex // protects topics, published topics, closed, floor, forgot, lastMS, seq
	topics    map[string]*topic
	pubTopics int // topics with pub set
	closed    bool
	floor     history.ID // raised when an idle topic is forgotten
	forgot    bool       // some topic was forgotten
	lastMS    uint64
	seq       uint64

	subs      atomic.Int64
	published atomic.Uint64
	lagged    atomic.Uint64
	evictedGC atomic.Uint64 // evictions of forgotten topics

	stop chan struct{}
	wg   sync.WaitGroup
}

var _ Broker = (*Memory)(nil)

// topic is a topic's history and what the broker knows of its use.
type topic struct {
	log *history.Log
	pub bool // published to: counts against MaxTopics
}

// NewMemory returns an in-process broker; a nil opts means defaults. It
// returns an error for contradictory options. With MaxAge set, one
// goroutine forgets expired, unsubscribed topics; Close stops it.
func NewMemory(opts *MemoryOptions) (*Memory, error) {
	var o MemoryOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = 1024
	}
	switch {
	case o.MaxBytes == 0:
		o.MaxBytes = 4 << 20
	case o.MaxBytes < 0:
		o.MaxBytes = 0
	}
	if o.MaxAge < 0 {
		return nil, fmt.Errorf("pubsub: MaxAge %v is negative; use 0 for no age limit", o.MaxAge)
	}
	if o.MaxTopics <= 0 {
		o.MaxTopics = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	start := history.ID{MS: uint64(o.Now().UnixMilli())}
	m := &Memory{opt: o, start: start, floor: start, topics: map[string]*topic{}, stop: make(chan struct{})}
	if o.MaxAge > 0 {
		every := min(max(o.MaxAge/2, time.Second), time.Minute)
		m.wg.Go(func() { m.sweepLoop(every) })
	}
	return m, nil
}

func (m *Memory) sweepLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep forgets topics whose history has expired and that nobody
// subscribes to.
func (m *Memory) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, t := range m.topics {
		if idle, _ := t.log.Prune(); idle {
			m.forgetLocked(name, t)
		}
	}
}

// forgetLocked removes topic name. A topic that had messages raises the
// floor new topics start from to its last ID: a later Subscribe from an
// older ID may have missed them.
func (m *Memory) forgetLocked(name string, t *topic) {
	if _, _, appended, ev := t.log.Stats(); appended > 0 {
		m.evictedGC.Add(ev)
		if last := t.log.Last(); last.Compare(m.floor) > 0 {
			m.floor = last
		}
		m.forgot = true
	}
	if t.pub {
		m.pubTopics--
	}
	t.log.Close()
	delete(m.topics, name)
}

// release forgets topic name if it is still t and has neither subscribers
// nor retained messages; a subscription calls it when it closes.
func (m *Memory) release(name string, t *topic) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.topics[name] != t {
		return
	}
	if idle, _ := t.log.Prune(); idle {
		m.forgetLocked(name, t)
	}
}

// topicLocked returns topic name, creating it; a publisher's topic
// (forPublish) must fit MaxTopics, a subscriber's need not.
func (m *Memory) topicLocked(name string, forPublish bool) (*topic, error) {
	if m.closed {
		return nil, ErrClosed
	}
	t := m.topics[name]
	if forPublish && (t == nil || !t.pub) {
		if m.pubTopics >= m.opt.MaxTopics {
			return nil, ErrTooManyTopics
		}
	}
	if t == nil {
		t = &topic{log: history.New(history.Limits{MaxMessages: m.opt.MaxMessages, MaxBytes: m.opt.MaxBytes, MaxAge: m.opt.MaxAge}, m.opt.Now, m.floor)}
		m.topics[name] = t
	}
	if forPublish && !t.pub {
		t.pub = true
		m.pubTopics++
	}
	return t, nil
}

// Publish appends data to topic's history and wakes its subscribers; it
// never waits for them. It returns [ErrClosed] after Close and
// [ErrTooManyTopics] for a new topic over the bound. ctx is not used: the
// call does not block.
func (m *Memory) Publish(_ context.Context, topic string, data []byte) (string, error) {
	now := m.opt.Now()
	m.mu.Lock()
	t, err := m.topicLocked(topic, true)
	if err != nil {
		m.mu.Unlock()
		return "", err
	}
	// One ID sequence for the broker: monotonic per topic (and across
	// topics), never going back even if the clock does.
	ms := uint64(now.UnixMilli())
	if ms <= m.lastMS {
		ms = m.lastMS
		m.seq++
	} else {
		m.lastMS, m.seq = ms, 0
	}
	id := history.ID{MS: ms, Seq: m.seq}
	str := id.String()
	// Append under m.mu so IDs enter each log in order.
	t.log.Append(history.Entry{ID: id, IDStr: str, Data: data, Time: now})
	m.mu.Unlock()
	m.published.Add(1)
	return str, nil
}

// Subscribe returns a subscription to topic from fromID (see
// [Broker.Subscribe]). Lost is true when fromID is outside what this
// broker can vouch for: older than a message its history discarded, older
// than the broker itself (an ID from before a restart), or newer than the
// broker's clock and every ID it issued (an ID from a process whose clock
// was ahead). An ID in between that the broker never issued (an SSE
// server's anchor, another topic's ID) is not lost. fromID "0" is lost
// only if this broker discarded messages of the topic. A topic with no
// history is created without counting against MaxTopics (see there). ctx
// is not used: the call does not block.
func (m *Memory) Subscribe(_ context.Context, topic, fromID string) (Subscription, error) {
	var from history.ID
	if fromID != "" {
		var ok bool
		if from, ok = history.ParseID(fromID); !ok {
			return nil, ErrInvalidID
		}
	}
	now := uint64(m.opt.Now().UnixMilli())
	m.mu.Lock()
	t, err := m.topicLocked(topic, false)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	c, lost := t.log.Subscribe(from, fromID == "")
	if _, _, _, evicted := t.log.Stats(); lost && from == (history.ID{}) && evicted == 0 && !m.forgot {
		// "0" asks for everything there is; nothing was discarded by this
		// broker, and nothing from before it can be asked for by ID.
		lost = false
	}
	if fromID != "" && !lost {
		present := history.ID{MS: now}
		if issued := (history.ID{MS: m.lastMS, Seq: m.seq}); issued.Compare(present) > 0 {
			present = issued // the clock went back
		}
		lost = from.Compare(present) > 0
	}
	m.mu.Unlock()
	m.subs.Add(1)
	return &memSub{m: m, topic: topic, t: t, c: c, lost: lost, last: fromID}, nil
}

// Close closes every subscription and stops the sweeper. Messages are
// discarded. Idempotent; returns nil.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, t := range m.topics {
		t.log.Close()
	}
	m.mu.Unlock()
	close(m.stop)
	m.wg.Wait()
	return nil
}

// Stats returns a snapshot; it takes each topic's lock briefly.
func (m *Memory) Stats() MemoryStats {
	s := MemoryStats{
		Subscribers: int(m.subs.Load()),
		Published:   m.published.Load(),
		Lagged:      m.lagged.Load(),
		Evicted:     m.evictedGC.Load(),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s.Topics = len(m.topics)
	s.PublishedTopics = m.pubTopics
	for _, t := range m.topics {
		n, b, _, ev := t.log.Stats()
		s.Retained += n
		s.RetainedBytes += b
		s.Evicted += ev
	}
	return s
}

type memSub struct {
	m     *Memory
	topic string
	t     *topic
	c     *history.Cursor
	lost  bool
	last  string // only Next's goroutine touches it
	once  sync.Once
}

func (s *memSub) Next(ctx context.Context) (Message, error) {
	e, err := s.c.Next(ctx)
	if err != nil {
		var lag *history.LagError
		switch {
		case errors.As(err, &lag):
			s.m.lagged.Add(1)
			return Message{}, &LagError{Topic: s.topic, LastID: s.last, Missed: lag.Missed}
		case errors.Is(err, history.ErrClosed):
			return Message{}, ErrClosed
		}
		return Message{}, err
	}
	s.last = e.IDStr
	return Message{Topic: s.topic, ID: s.last, Data: e.Data, Time: e.Time}, nil
}

func (s *memSub) Lost() bool     { return s.lost }
func (s *memSub) LastID() string { return s.last }

func (s *memSub) Close() error {
	s.once.Do(func() {
		s.c.Close()
		s.m.subs.Add(-1)
		s.m.release(s.topic, s.t)
	})
	return nil
}
