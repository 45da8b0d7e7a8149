package redis

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/pubsub/internal/history"
)

// ErrLocalOnly is wrapped by the error Publish returns when Redis did not
// take the message but this instance's own subscribers of the topic got
// it (with an ID Redis never stored). Other instances did not receive it
// and no replay will contain it. errors.Is(err, ErrLocalOnly) lets a caller
// treat it as a partial success.
var ErrLocalOnly = errors.New("pubsub/redis: redis unavailable; message delivered to this instance's subscribers only")

// Options configures [New]. A nil *Options is valid and means all defaults;
// New copies it.
type Options struct {
	// KeyPrefix is prepended to a topic to make its stream key. Defaults
	// to "pubsub:".
	KeyPrefix string
	// MaxLen trims each stream to about this many entries on every XADD
	// (MAXLEN ~). Defaults to 10000. This is the replay history.
	MaxLen int64
	// Buffer is how many messages this instance buffers per topic for its
	// subscribers between Redis reads; a subscriber further behind gets a
	// pubsub.LagError and can Subscribe again from its LastID to replay
	// from the stream. Defaults to 1024.
	Buffer int
	// Block is how long one XREAD BLOCK waits. It bounds how long Close
	// takes (go-redis does not interrupt a blocked read when its context
	// is cancelled). Defaults to 1s.
	Block time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries after a
	// Redis error (exponential, full jitter). Default to 50ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// OnError, if set, is called with every Redis error the background
	// readers meet (they retry on their own). Called from reader
	// goroutines; it must not block.
	OnError func(topic string, err error)
}

// Stats is a snapshot of a [Broker].
type Stats struct {
	Topics      int    // topics with local subscribers (one reader each)
	Subscribers int    // open subscriptions
	Published   uint64 // messages Redis accepted from this instance
	LocalOnly   uint64 // messages delivered only locally (ErrLocalOnly)
	Received    uint64 // messages read from Redis for local subscribers
	Errors      uint64 // Redis errors seen by readers
	Healthy     bool   // the last Redis operation succeeded
}

// Broker is a [pubsub.Broker] on Redis Streams. Each topic is a stream;
// a stream entry's ID is the message ID. Several instances on one Redis
// share fan-out and history. Safe for concurrent use.
type Broker struct {
	c   goredis.UniversalClient
	opt Options

	mu      sync.Mutex // protects readers, closed
	readers map[string]*reader
	closed  bool

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // readers

	instance string        // random prefix of this instance's publish tokens
	seq      atomic.Uint64 // publish token counter

	subs      atomic.Int64
	published atomic.Uint64
	localOnly atomic.Uint64
	received  atomic.Uint64
	errs      atomic.Uint64
	unhealthy atomic.Bool
}

var _ pubsub.Broker = (*Broker)(nil)

// New returns a broker that uses client (which it does not close: the
// caller owns it). Each topic with local subscribers holds one pool
// connection for its blocking reads: size the client's pool accordingly.
// It returns an error for invalid options; it does not contact Redis.
func New(client goredis.UniversalClient, opts *Options) (*Broker, error) {
	if client == nil {
		return nil, errors.New("pubsub/redis: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "pubsub:"
	}
	if o.MaxLen <= 0 {
		o.MaxLen = 10000
	}
	if o.Buffer <= 0 {
		o.Buffer = 1024
	}
	if o.Block <= 0 {
		o.Block = time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("pubsub/redis: MaxBackoff %v is below MinBackoff %v", o.MaxBackoff, o.MinBackoff)
	}
	var nonce [8]byte
	_, _ = crand.Read(nonce[:])
	ctx, cancel := context.WithCancel(context.Background())
	return &Broker{c: client, opt: o, readers: map[string]*reader{}, ctx: ctx, cancel: cancel,
		instance: hex.EncodeToString(nonce[:]) + "."}, nil
}

func (b *Broker) key(topic string) string { return b.opt.KeyPrefix + topic }

// Publish adds data to topic's stream (XADD with MAXLEN ~) and returns the
// stream entry ID. Subscribers, here and on other instances, receive it
// from Redis. When Redis fails and this instance has subscribers of the
// topic, they get the message anyway with a local ID and Publish returns
// that ID with an error wrapping [ErrLocalOnly]; without local subscribers
// it returns "" and the Redis error. ctx bounds the Redis call.
func (b *Broker) Publish(ctx context.Context, topic string, data []byte) (string, error) {
	if b.isClosed() {
		return "", pubsub.ErrClosed
	}
	token := b.instance + strconv.FormatUint(b.seq.Add(1), 36)
	id, err := b.c.XAdd(ctx, &goredis.XAddArgs{
		Stream: b.key(topic),
		MaxLen: b.opt.MaxLen,
		Approx: true,
		Values: []any{"d", data, "p", token},
	}).Result()
	if err == nil {
		b.unhealthy.Store(false)
		b.published.Add(1)
		return id, nil
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("pubsub/redis: publish to %q: %w", topic, err)
	}
	b.unhealthy.Store(true)
	b.mu.Lock()
	r := b.readers[topic]
	b.mu.Unlock()
	if r == nil {
		return "", fmt.Errorf("pubsub/redis: publish to %q: %w", topic, err)
	}
	lid, stored := r.appendLocal(token, data)
	if stored {
		// The connection broke after Redis took the entry, and the reader
		// has already seen it: the publish succeeded.
		b.published.Add(1)
		return lid, nil
	}
	b.localOnly.Add(1)
	return lid, fmt.Errorf("%w: publish to %q: %v", ErrLocalOnly, topic, err)
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Subscribe subscribes to topic from fromID (see [pubsub.Broker]): the
// replay comes from the stream with XRANGE, page by page as Next asks,
// then live messages from this instance's reader of the topic. Lost is
// true when the stream trimmed or deleted an entry after fromID
// (max-deleted-entry-id), or when fromID is not "0" and the stream does
// not exist (Redis lost it, or it was never written). ctx bounds the Redis
// calls made here.
func (b *Broker) Subscribe(ctx context.Context, topic, fromID string) (pubsub.Subscription, error) {
	var from history.ID
	if fromID != "" {
		var ok bool
		if from, ok = history.ParseID(fromID); !ok {
			return nil, pubsub.ErrInvalidID
		}
	}
	if b.isClosed() {
		return nil, pubsub.ErrClosed
	}
	info, exists, err := b.info(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("pubsub/redis: subscribe to %q: %w", topic, err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, pubsub.ErrClosed
	}
	r := b.readers[topic]
	if r == nil {
		start, _ := history.ParseID(info.LastGeneratedID)
		r = &reader{b: b, topic: topic, last: start}
		r.ctx, r.stop = context.WithCancel(b.ctx)
		r.log = history.New(history.Limits{MaxMessages: b.opt.Buffer}, time.Now, history.ID{})
		b.readers[topic] = r
		b.wg.Go(r.run)
	}
	r.refs++
	cur, pos := r.subscribe()
	b.mu.Unlock()
	b.subs.Add(1)

	s := &sub{b: b, r: r, topic: topic, cur: cur, last: fromID}
	if fromID != "" {
		s.replaying = from.Compare(pos) < 0
		s.replayFrom, s.replayTo = from, pos
		s.lost = lost(from, info, exists)
	}
	return s, nil
}

// lost reports whether entries after from may be gone: an entry above it
// was deleted (max-deleted-entry-id, which XDEL sets), or the stream was
// trimmed (entries-added exceeds the length) and from is below the first
// entry left. The trim case is conservative: from equal to the last
// trimmed entry also counts as lost, since Redis does not record which
// entry that was.
func lost(from history.ID, info goredis.XInfoStream, exists bool) bool {
	if !exists {
		return from != (history.ID{})
	}
	if del, ok := history.ParseID(info.MaxDeletedEntryID); ok && from.Compare(del) < 0 {
		return true
	}
	if info.EntriesAdded <= info.Length {
		return false
	}
	first := info.RecordedFirstEntryID
	if first == "" || first == "0-0" {
		first = info.FirstEntry.ID
	}
	if info.Length == 0 || first == "" {
		first = info.LastGeneratedID
		f, _ := history.ParseID(first)
		return from.Compare(f) < 0
	}
	f, _ := history.ParseID(first)
	return from.Compare(f) < 0
}

// info returns XINFO STREAM for topic; exists is false for a missing
// stream (whose LastGeneratedID is then "0-0").
func (b *Broker) info(ctx context.Context, topic string) (goredis.XInfoStream, bool, error) {
	info, err := b.c.XInfoStream(ctx, b.key(topic)).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return goredis.XInfoStream{LastGeneratedID: "0-0", MaxDeletedEntryID: "0-0"}, false, nil
		}
		return goredis.XInfoStream{}, false, err
	}
	return *info, true, nil
}

// Close closes every subscription, stops the readers and waits for them
// (up to Options.Block, see there). It does not close the client.
// Idempotent; returns nil.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, r := range b.readers {
		r.log.Close()
	}
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	return nil
}

// Stats returns a snapshot.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	topics := len(b.readers)
	b.mu.Unlock()
	return Stats{
		Topics:      topics,
		Subscribers: int(b.subs.Load()),
		Published:   b.published.Load(),
		LocalOnly:   b.localOnly.Load(),
		Received:    b.received.Load(),
		Errors:      b.errs.Load(),
		Healthy:     !b.unhealthy.Load(),
	}
}

// reader is the one goroutine per topic that reads the stream (XREAD
// BLOCK) for this instance's subscribers and appends to their shared log.
type reader struct {
	b     *Broker
	topic string
	log   *history.Log
	ctx   context.Context    // cancelled by stop or the broker's Close
	stop  context.CancelFunc // called when the last subscription leaves

	refs int // protected by b.mu

	mu      sync.Mutex // orders appends with subscribe; protects the fields below
	last    history.ID // last stream ID read from Redis: where reads resume
	localID history.ID // last ID appended to log (Redis or local)
	// Publish tokens of this instance's messages, so a message whose XADD
	// outcome was unknown reaches local subscribers once: seen holds the
	// ones read from Redis (token -> ID), local the ones delivered
	// locally instead. Both bounded (Options.Buffer, oldest forgotten).
	seen  tokens[string]
	local tokens[struct{}]
}

// tokens is a map bounded to max entries, forgetting the oldest.
type tokens[V any] struct {
	m     map[string]V
	order []string // ring of keys in insertion order
	next  int
}

func (t *tokens[V]) get(k string) (V, bool) {
	v, ok := t.m[k]
	return v, ok
}

func (t *tokens[V]) put(k string, v V, limit int) {
	if t.m == nil {
		t.m = make(map[string]V)
		t.order = make([]string, limit)
	}
	if old := t.order[t.next]; old != "" {
		delete(t.m, old)
	}
	t.order[t.next] = k
	t.next = (t.next + 1) % len(t.order)
	t.m[k] = v
}

// subscribe registers a live cursor and returns the Redis position it
// starts after: entries up to pos are the replay's, later ones the
// cursor's.
func (r *reader) subscribe() (*history.Cursor, history.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, _ := r.log.Subscribe(history.ID{}, true)
	return c, r.last
}

// appendLocal delivers a message Redis did not confirm to the local
// subscribers, unless the reader already read it from Redis: then it
// returns its stream ID and stored true.
func (r *reader) appendLocal(token string, data []byte) (id string, stored bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.seen.get(token); ok {
		return id, true
	}
	r.local.put(token, struct{}{}, r.b.opt.Buffer)
	return r.appendLocalLocked(data), false
}

func (r *reader) appendLocalLocked(data []byte) string {
	now := time.Now()
	id := history.ID{MS: uint64(now.UnixMilli())}
	if id.Compare(r.localID) <= 0 {
		id = history.ID{MS: r.localID.MS, Seq: r.localID.Seq + 1}
	}
	r.localID = id
	str := id.String()
	r.log.Append(history.Entry{ID: id, IDStr: str, Data: data, Time: now})
	return str
}

func (r *reader) run() {
	b, ctx := r.b, r.ctx
	defer r.stop()
	key := b.key(r.topic)
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		r.mu.Lock()
		last := r.last.String()
		r.mu.Unlock()
		res, err := b.c.XRead(ctx, &goredis.XReadArgs{Streams: []string{key, last}, Count: 256, Block: b.opt.Block}).Result()
		if errors.Is(err, goredis.Nil) {
			backoff = 0
			b.unhealthy.Store(false)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.errs.Add(1)
			b.unhealthy.Store(true)
			if b.opt.OnError != nil {
				b.opt.OnError(r.topic, err)
			}
			backoff = min(max(2*backoff, b.opt.MinBackoff), b.opt.MaxBackoff)
			t := time.NewTimer(rand.N(backoff) + 1)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		b.unhealthy.Store(false)
		for _, st := range res {
			for _, m := range st.Messages {
				r.deliver(m)
			}
		}
	}
}

func (r *reader) deliver(m goredis.XMessage) {
	id, ok := history.ParseID(m.ID)
	if !ok {
		return
	}
	e := history.Entry{ID: id, IDStr: m.ID, Data: payload(m), Time: time.UnixMilli(int64(id.MS))}
	token, _ := m.Values["p"].(string)
	own := strings.HasPrefix(token, r.b.instance)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = id
	if own {
		if _, ok := r.local.get(token); ok {
			return // already delivered locally when its Publish failed
		}
		r.seen.put(token, m.ID, r.b.opt.Buffer)
	}
	if id.Compare(r.localID) > 0 {
		r.localID = id
	}
	r.log.Append(e)
	r.b.received.Add(1)
}

func payload(m goredis.XMessage) []byte {
	switch v := m.Values["d"].(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	}
	return nil
}

// sub is a subscription: a replay from the stream (XRANGE, a page at a
// time), then the topic reader's log.
type sub struct {
	b     *Broker
	r     *reader
	topic string
	cur   *history.Cursor
	lost  bool

	// Owned by the goroutine calling Next.
	replaying  bool
	replayFrom history.ID // exclusive
	replayTo   history.ID // inclusive
	page       []goredis.XMessage
	last       string

	once     sync.Once
	isClosed atomic.Bool
}

const replayPage = 256

func (s *sub) Next(ctx context.Context) (pubsub.Message, error) {
	for s.replaying {
		if len(s.page) == 0 {
			if s.b.isClosed() || s.isClosed.Load() {
				return pubsub.Message{}, pubsub.ErrClosed
			}
			msgs, err := s.b.c.XRangeN(ctx, s.b.key(s.topic), "("+s.replayFrom.String(), s.replayTo.String(), replayPage).Result()
			if err != nil {
				if ctx.Err() != nil {
					return pubsub.Message{}, ctx.Err()
				}
				return pubsub.Message{}, fmt.Errorf("pubsub/redis: replay %q after %s: %w", s.topic, s.replayFrom, err)
			}
			if len(msgs) == 0 {
				s.replaying = false
				break
			}
			s.page = msgs
		}
		m := s.page[0]
		s.page = s.page[1:]
		id, ok := history.ParseID(m.ID)
		if !ok {
			continue
		}
		s.replayFrom = id
		s.last = m.ID
		return pubsub.Message{Topic: s.topic, ID: m.ID, Data: payload(m), Time: time.UnixMilli(int64(id.MS))}, nil
	}
	e, err := s.cur.Next(ctx)
	if err != nil {
		var lag *history.LagError
		switch {
		case errors.As(err, &lag):
			return pubsub.Message{}, &pubsub.LagError{Topic: s.topic, LastID: s.last, Missed: lag.Missed}
		case errors.Is(err, history.ErrClosed):
			return pubsub.Message{}, pubsub.ErrClosed
		}
		return pubsub.Message{}, err
	}
	s.last = e.IDStr
	return pubsub.Message{Topic: s.topic, ID: s.last, Data: e.Data, Time: e.Time}, nil
}

func (s *sub) Lost() bool     { return s.lost }
func (s *sub) LastID() string { return s.last }

func (s *sub) Close() error {
	s.once.Do(func() {
		s.isClosed.Store(true)
		s.cur.Close()
		s.b.subs.Add(-1)
		s.b.mu.Lock()
		defer s.b.mu.Unlock()
		s.r.refs--
		if s.r.refs == 0 && s.b.readers[s.topic] == s.r {
			delete(s.b.readers, s.topic)
			s.r.stop()
		}
	})
	return nil
}
