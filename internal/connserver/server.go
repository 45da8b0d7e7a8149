package connserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// ErrClosing is returned by Publish and Join once the server is shutting
// down; the adapter answers with its own error.
var ErrClosing = errors.New("connserver: closing")

// ErrGone is returned by Join when the joining connection ended while the
// topic's broker subscription was being made.
var ErrGone = errors.New("connserver: connection ended")

// Hooks are the adapter's side of the core. Every hook is required.
type Hooks[C comparable, M any] struct {
	// Start starts the fan-out of a topic that got its broker
	// subscription; it runs with Mu held, and the fan-out's goroutines
	// join WG.
	Start func(t *Topic[C, M])
	// Beat runs on the clock goroutine BeatSlots times per
	// Config.Heartbeat, with slot counting 1, 2, … modulo BeatSlots.
	Beat func(slot uint64)
	// GoAway starts closing c gracefully (Shutdown), Abort drops it
	// (Close, and Shutdown's deadline); neither waits.
	GoAway, Abort func(c C)
	// Ended returns a channel closed once c is released and its goroutines
	// are done.
	Ended func(c C) <-chan struct{}
}

// Server is the shared core of one adapter's server; C is the adapter's
// connection type, M what a topic keeps per member. Its methods are safe
// for concurrent use.
type Server[C comparable, M any] struct {
	cfg        Config
	hooks      Hooks[C, M]
	broker     pubsub.Broker
	ownBroker  bool
	retryAfter string

	// Counters are the totals both adapters report.
	Counters Counters
	// QueueOptions are the options of every connection's send queue.
	QueueOptions sendq.Options
	// WG counts the goroutines the adapter starts for connections and
	// topics; Close waits for it.
	WG sync.WaitGroup

	// Mu protects the registry and the topics, and what the adapter keeps
	// with them (its connections' topic memberships).
	Mu      sync.Mutex
	conns   map[C]struct{}
	perIP   map[string]int // reserved or open connections per client IP
	active  int            // reserved or open connections
	topics  map[string]*Topic[C, M]
	closing bool
	nextID  uint64

	shut atomic.Bool // closing, readable without Mu

	clock     bool // the clock runs (started with the first connection)
	clockOff  bool // the clock has ended: writers do not linger
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	lingerTicks atomic.Uint64
	lingerWheel [MaxLingerWait + 1]atomic.Pointer[lingerSlot]
}

// New returns the core for an adapter: cfg is filled (see Config.Fill) and
// broker nil means a pubsub.NewMemory(nil) that Close closes.
func New[C comparable, M any](cfg Config, broker pubsub.Broker, hooks Hooks[C, M]) (*Server[C, M], error) {
	if err := cfg.Fill(); err != nil {
		return nil, err
	}
	s := &Server[C, M]{
		cfg:        cfg,
		hooks:      hooks,
		broker:     broker,
		retryAfter: strconv.Itoa(int((cfg.RetryAfter + time.Second - 1) / time.Second)),
		conns:      make(map[C]struct{}),
		perIP:      make(map[string]int),
		topics:     make(map[string]*Topic[C, M]),
		done:       make(chan struct{}),
	}
	s.Counters.closed = make(map[string]uint64)
	s.QueueOptions = sendq.Options{
		Policy:       cfg.Policy,
		MaxMessages:  cfg.QueueMessages,
		MaxBytes:     cfg.QueueBytes,
		BlockTimeout: cfg.BlockTimeout,
		OnDrop:       s.Counters.Drops.Count,
	}
	if s.broker == nil {
		m, err := pubsub.NewMemory(nil)
		if err != nil {
			return nil, fmt.Errorf("%s: default broker: %w", cfg.Pkg, err)
		}
		s.broker, s.ownBroker = m, true
	}
	return s, nil
}

// Config returns the filled configuration.
func (s *Server[C, M]) Config() *Config { return &s.cfg }

// Broker returns the broker topics are subscribed on.
func (s *Server[C, M]) Broker() pubsub.Broker { return s.broker }

// Add registers c, which holds a reservation, as open and returns its
// number, unique within the server; false when the server is closing (the
// caller releases the reservation). The first connection starts the
// clock.
func (s *Server[C, M]) Add(c C) (id uint64, ok bool) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if s.closing {
		return 0, false
	}
	s.nextID++
	s.conns[c] = struct{}{}
	s.Counters.Opened.Add(1)
	if !s.clock {
		s.clock = true
		s.WG.Go(s.runClock)
	}
	return s.nextID, true
}

// RemoveLocked unregisters c and releases its reservation for ip. Call
// with Mu held, after taking c out of its topics (LeaveLocked).
func (s *Server[C, M]) RemoveLocked(c C, ip string) {
	delete(s.conns, c)
	s.releaseLocked(ip)
}

// ConnsLocked is the set of open connections; read it with Mu held.
func (s *Server[C, M]) ConnsLocked() map[C]struct{} { return s.conns }

// Conns returns the open connections in no particular order.
func (s *Server[C, M]) Conns() []C {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.connsLocked()
}

func (s *Server[C, M]) connsLocked() []C {
	out := make([]C, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Active returns the connections counted against the limits: reserved or
// open.
func (s *Server[C, M]) Active() int {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.active
}

// Closing reports whether Shutdown or Close has begun, without a lock.
func (s *Server[C, M]) Closing() bool { return s.shut.Load() }

// ClosingLocked is Closing for a caller holding Mu.
func (s *Server[C, M]) ClosingLocked() bool { return s.closing }

// Publish publishes data to topic on the broker and returns its message ID.
func (s *Server[C, M]) Publish(ctx context.Context, topic string, data []byte) (string, error) {
	if s.shut.Load() {
		return "", ErrClosing
	}
	id, err := s.broker.Publish(ctx, topic, data)
	if err != nil {
		return "", fmt.Errorf("%s: publish to %q: %w", s.cfg.Pkg, topic, err)
	}
	return id, nil
}

// beginClose marks the server closing and returns the open connections.
func (s *Server[C, M]) beginClose() []C {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.closing = true
	s.shut.Store(true)
	return s.connsLocked()
}

// Close drops every connection (Hooks.Abort), waits for them to end, closes
// the topics' subscriptions, waits for WG and closes the broker if New made
// it. Idempotent; later calls return the first call's result.
func (s *Server[C, M]) Close() error {
	s.closeOnce.Do(func() {
		conns := s.beginClose()
		close(s.done)
		for _, c := range conns {
			s.hooks.Abort(c)
		}
		for _, c := range conns {
			<-s.hooks.Ended(c)
		}
		s.Mu.Lock()
		for name, t := range s.topics {
			if t.Sub != nil { // a pending one is closed by its Join
				t.Sub.Close()
			}
			delete(s.topics, name)
		}
		s.Mu.Unlock()
		s.WG.Wait()
		if s.ownBroker {
			s.closeErr = s.broker.Close()
		}
	})
	return s.closeErr
}
