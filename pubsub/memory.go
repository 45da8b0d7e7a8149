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
	// MaxAge drops messages older than this from history. Zero (the
	// default) keeps them until MaxMessages or MaxBytes push them out.
	MaxAge time.Duration
	// MaxTopics bounds the number of topics; a new topic beyond it gets
	// [ErrTooManyTopics]. Defaults to 10000. Retained memory is at most
	// MaxTopics × MaxBytes plus per-message overhead.
	MaxTopics int
	// Now is the clock for IDs and MaxAge. Defaults to time.Now.
	Now func() time.Time
}

// MemoryStats is a snapshot of a [Memory] broker.
type MemoryStats struct {
	Topics        int    // topics that exist now
	Subscribers   int    // open subscriptions
	Retained      int    // messages held across all topics
	RetainedBytes int    // payload bytes held across all topics
	Published     uint64 // messages published since NewMemory
	Evicted       uint64 // messages dropped from history by its bounds
	Lagged        uint64 // times a subscriber was told it lagged
}

// Memory is an in-process [Broker]. Each topic keeps a bounded history
// that is also every subscriber's buffer: Publish appends and returns at
// once, each subscription reads at its own position, and one that falls
// further behind than the history reaches gets a [LagError] (see the
// package doc). Safe for concurrent use.
type Memory struct {
	opt   MemoryOptions
	start history.ID // IDs below it come from before this broker existed

	mu     sync.Mutex // protects topics, closed, floor, lastMS, seq
	topics map[string]*history.Log
	closed bool
	floor  history.ID // raised when an idle topic is forgotten
	forgot bool       // some topic was forgotten
	lastMS uint64
	seq    uint64

	subs      atomic.Int64
	published atomic.Uint64
	lagged    atomic.Uint64
	evictedGC atomic.Uint64 // evictions of forgotten topics

	stop chan struct{}
	wg   sync.WaitGroup
}

var _ Broker = (*Memory)(nil)

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
	m := &Memory{opt: o, start: start, floor: start, topics: map[string]*history.Log{}, stop: make(chan struct{})}
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
// subscribes to; their last ID raises the floor new topics start from.
func (m *Memory) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, l := range m.topics {
		if idle, last := l.Prune(); idle {
			_, _, _, ev := l.Stats()
			m.evictedGC.Add(ev)
			if last.Compare(m.floor) > 0 {
				m.floor = last
			}
			l.Close()
			delete(m.topics, name)
			m.forgot = true
		}
	}
}

func (m *Memory) topicLocked(topic string) (*history.Log, error) {
	if m.closed {
		return nil, ErrClosed
	}
	l := m.topics[topic]
	if l == nil {
		if len(m.topics) >= m.opt.MaxTopics {
			return nil, ErrTooManyTopics
		}
		l = history.New(history.Limits{MaxMessages: m.opt.MaxMessages, MaxBytes: m.opt.MaxBytes, MaxAge: m.opt.MaxAge}, m.opt.Now, m.floor)
		m.topics[topic] = l
	}
	return l, nil
}

// Publish appends data to topic's history and wakes its subscribers; it
// never waits for them. It returns [ErrClosed] after Close and
// [ErrTooManyTopics] for a new topic over the bound. ctx is not used: the
// call does not block.
func (m *Memory) Publish(_ context.Context, topic string, data []byte) (string, error) {
	now := m.opt.Now()
	m.mu.Lock()
	l, err := m.topicLocked(topic)
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
	l.Append(history.Entry{ID: id, IDStr: str, Data: data, Time: now})
	m.mu.Unlock()
	m.published.Add(1)
	return str, nil
}

// Subscribe returns a subscription to topic from fromID (see
// [Broker.Subscribe]). Lost is true when fromID is below what this broker
// can vouch for: older than a message its history discarded, or older than
// the broker itself (an ID from before a restart). fromID "0" is lost only
// if this broker discarded messages of the topic. ctx is not used: the
// call does not block.
func (m *Memory) Subscribe(_ context.Context, topic, fromID string) (Subscription, error) {
	var from history.ID
	if fromID != "" {
		var ok bool
		if from, ok = history.ParseID(fromID); !ok {
			return nil, ErrInvalidID
		}
	}
	m.mu.Lock()
	l, err := m.topicLocked(topic)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	c, lost := l.Subscribe(from, fromID == "")
	if _, _, _, evicted := l.Stats(); lost && from == (history.ID{}) && evicted == 0 && !m.forgot {
		// "0" asks for everything there is; nothing was discarded by this
		// broker, and nothing from before it can be asked for by ID.
		lost = false
	}
	m.mu.Unlock()
	m.subs.Add(1)
	return &memSub{m: m, topic: topic, c: c, lost: lost, last: fromID}, nil
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
	for _, l := range m.topics {
		l.Close()
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
	for _, l := range m.topics {
		n, b, _, ev := l.Stats()
		s.Retained += n
		s.RetainedBytes += b
		s.Evicted += ev
	}
	return s
}

type memSub struct {
	m     *Memory
	topic string
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
	})
	return nil
}
