package redis

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	// MaxTopics bounds the topics this instance has local subscribers of
	// (each costs a buffer, up to Buffer messages, and a stream in every
	// XREAD the broker sends): a Subscribe to one more gets an error
	// wrapping [pubsub.ErrTooManyTopics]. It never limits Publish, so
	// subscribers cannot stop publishers. A topic is released when its
	// last local subscription closes. Defaults to 1024; zero means the
	// default, negative is rejected.
	MaxTopics int
	// Buffer is how many messages this instance buffers per topic for its
	// subscribers between Redis reads; a subscriber further behind gets a
	// pubsub.LagError and can Subscribe again from its LastID to replay
	// from the stream. Defaults to 1024.
	Buffer int
	// Block is how long one XREAD BLOCK waits. On a single Redis the
	// broker interrupts its read when it needs to (CLIENT UNBLOCK); where
	// it cannot (a cluster or ring client, or a server that refuses
	// CLIENT ID), Block bounds how long Close takes and how late the
	// first messages of a topic subscribed during a read arrive (go-redis
	// does not interrupt a blocked read when its context is cancelled).
	// Defaults to 1s.
	Block time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries after a
	// Redis error (exponential, full jitter). Default to 50ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// OnError, if set, is called with every Redis error the background
	// readers meet (they retry on their own), with the topic read, or ""
	// for the read of all topics on a single Redis. Called from reader
	// goroutines; it must not block.
	OnError func(topic string, err error)
}

// Stats is a snapshot of a [Broker].
type Stats struct {
	Topics      int    // topics with local subscribers (what MaxTopics bounds)
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

	mu      sync.Mutex // protects readers, shared, closed and the groups' topics
	readers map[string]*reader
	shared  *group // the group of every topic on a single Redis; nil until needed
	closed  bool

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // groups

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
// caller owns it). With a *goredis.Client (a single Redis, or Sentinel
// failover) the broker reads every topic it has local subscribers of on
// one goroutine and one connection of the client's pool (held while there
// are such topics, so the pool needs two or more); with other clients
// (cluster, ring) each such topic holds a goroutine and a pool connection
// for its blocking reads: size the pool accordingly. It returns an error
// for invalid options; it does not contact Redis.
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
	switch {
	case o.MaxTopics == 0:
		o.MaxTopics = 1024
	case o.MaxTopics < 0:
		return nil, fmt.Errorf("pubsub/redis: MaxTopics %d is negative; use 0 for the default", o.MaxTopics)
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
// true when messages after fromID may be missing: an entry after it was
// trimmed or deleted, or the stream did not exist at fromID (it is
// missing, or begins after fromID) and the server restarted or evicted
// keys since, so Redis may have lost it. A topic first written after
// fromID on a server that did neither lost nothing. An ID newer than the
// stream's last entry is not lost. The package doc has the details and
// the conservative cases. ctx bounds the Redis calls made here.
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
	isLost := false
	if fromID != "" {
		isLost = b.lost(ctx, topic, from, info, exists)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, pubsub.ErrClosed
	}
	r := b.readers[topic]
	var wake uint64
	if r == nil {
		if len(b.readers) >= b.opt.MaxTopics {
			b.mu.Unlock()
			return nil, fmt.Errorf("pubsub/redis: subscribe to %q: %w (Options.MaxTopics is %d)", topic, pubsub.ErrTooManyTopics, b.opt.MaxTopics)
		}
		start, _ := history.ParseID(info.LastGeneratedID)
		r = &reader{b: b, topic: topic, key: b.key(topic), last: start}
		r.log = history.New(history.Limits{MaxMessages: b.opt.Buffer}, time.Now, history.ID{})
		b.readers[topic] = r
		g := b.shared
		if _, oneServer := b.c.(*goredis.Client); !oneServer {
			g = newGroup(b, true)
			b.wg.Go(g.run)
		} else if g == nil {
			g = newGroup(b, false)
			b.shared = g
			b.wg.Go(g.run)
		}
		wake = g.addLocked(r)
	}
	r.refs++
	cur, pos := r.subscribe()
	b.mu.Unlock()
	b.subs.Add(1)
	if wake != 0 {
		// The new topic joins the group's next read; get it started.
		r.g.wake(ctx, wake)
	}

	s := &sub{b: b, r: r, topic: topic, cur: cur, last: fromID}
	if fromID != "" {
		s.replaying = from.Compare(pos) < 0
		s.replayFrom, s.replayTo = from, pos
		s.lost = isLost
	}
	return s, nil
}

// lost reports whether entries of topic after from may be gone, from the
// stream's XINFO (see streamLost) and, when the stream did not exist at
// from, the server's start time: a stream missing, or begun after from,
// was lost if the server restarted (or evicted keys) since from, and is a
// topic first written after from otherwise. Where the server cannot be
// asked (a ring client, an ACL that refuses INFO, an error) the answer is
// the conservative one: lost.
func (b *Broker) lost(ctx context.Context, topic string, from history.ID, info goredis.XInfoStream, exists bool) bool {
	lost, fresh := streamLost(from, info, exists)
	if !fresh {
		return lost
	}
	var server goredis.Cmdable
	switch c := b.c.(type) {
	case *goredis.Client:
		server = c
	case *goredis.ClusterClient:
		n, err := c.MasterForKey(ctx, b.key(topic))
		if err != nil {
			return true
		}
		server = n
	default:
		return true
	}
	text, err := server.Info(ctx, "server", "stats").Result()
	if err != nil {
		return true
	}
	started, evicted, ok := parseInfo(text)
	return !ok || evicted || from.MS < started
}

// parseInfo returns when the server started, in Unix milliseconds by its
// own clock (which stream IDs use too), and whether it evicted keys, from
// INFO server and stats. Redis records its start in whole seconds, so
// started is the end of that second: an ID from the server's first second
// counts as older than the server.
func parseInfo(text string) (started uint64, evicted, ok bool) {
	var nowUS, uptime, ev int64 = -1, -1, -1
	for line := range strings.Lines(text) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "server_time_usec":
			nowUS = n
		case "uptime_in_seconds":
			uptime = n
		case "evicted_keys":
			ev = n
		}
	}
	// uptime_in_seconds is the server's cached Unix second (that of
	// server_time_usec) minus the second it started in.
	if nowUS < 0 || uptime < 0 || ev < 0 || nowUS/1e6 < uptime {
		return 0, false, false
	}
	return uint64(nowUS/1e6-uptime+1) * 1000, ev > 0, true
}

// streamLost reports whether entries after from may be gone, from what
// XINFO STREAM records: entries-added, max-deleted-entry-id and the first
// entry. fresh means the stream did not exist at from (it is missing or
// never written, or nothing ever left it and its first entry is newer
// than from): that is a topic first written after from, or a stream
// Redis lost and that was written again, which the stream alone cannot
// tell apart; lost is then true, the conservative answer. Otherwise:
//   - "0" (everything) is lost only if an entry ever left the stream;
//   - an entry above from was deleted (XDEL sets max-deleted-entry-id);
//   - from is below the first entry of a trimmed stream; from equal to the
//     last trimmed entry counts too, since Redis does not record which
//     entry that was;
//   - an empty stream that had entries vouches only for its last ID.
func streamLost(from history.ID, info goredis.XInfoStream, exists bool) (lost, fresh bool) {
	everything := from == (history.ID{})
	if !exists || info.EntriesAdded == 0 {
		return !everything, !everything
	}
	if everything {
		return info.EntriesAdded > info.Length, false
	}
	if del, ok := history.ParseID(info.MaxDeletedEntryID); ok && from.Compare(del) < 0 {
		return true, false
	}
	first := info.FirstEntry.ID
	if info.Length == 0 || first == "" {
		first = info.LastGeneratedID
	}
	f, ok := history.ParseID(first)
	if !ok {
		return true, false
	}
	if from.Compare(f) >= 0 {
		return false, false
	}
	return true, info.EntriesAdded == info.Length
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
// (where a read cannot be interrupted, up to Options.Block, see there).
// It does not close the client.
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
	shared := b.shared
	b.mu.Unlock()
	b.cancel()
	if shared != nil {
		shared.interrupt()
	}
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
			s.r.g.removeLocked(s.r)
			s.r.log.Close()
		}
	})
	return nil
}
