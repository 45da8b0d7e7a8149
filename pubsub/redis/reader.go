package redis

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wirespeed/wirespeed/pubsub/internal/history"
)

// reader is this instance's state for one topic with local subscribers:
// the log they read, fed by the topic's group.
type reader struct {
	b     *Broker
	topic string
	key   string
	log   *history.Log
	g     *group

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
	if id.Compare(r.last) <= 0 {
		return // read already (a read that raced a newer reader of the topic)
	}
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

// group is one goroutine that reads the streams of a set of topics with
// one XREAD BLOCK at a time. On a single Redis (a *goredis.Client) the
// broker has one group for all its topics, reading on a connection of its
// own that Subscribe and Close interrupt with CLIENT UNBLOCK, so topics
// cost no goroutine or connection each and never take the pool
// connections publishers need. A client whose keys may live on different
// nodes (cluster, ring) cannot read several streams in one command: there
// each topic has a group of its own, which ends when the topic's last
// subscriber leaves.
type group struct {
	b        *Broker
	perTopic bool // one topic's group, on pooled connections
	ctx      context.Context
	stop     context.CancelFunc
	done     chan struct{}

	topics  map[string]*reader // protected by b.mu
	gen     uint64             // protected by b.mu; bumped when topics change
	reading atomic.Uint64      // gen of the topic set of the read in progress
	changed chan struct{}      // cap 1: topics changed (wakes an idle group)

	// The shared group's own connection; only its goroutine touches conn.
	conn   *goredis.Conn
	connID atomic.Int64 // CLIENT ID of conn; 0 when none or unknown
}

func newGroup(b *Broker, perTopic bool) *group {
	g := &group{b: b, perTopic: perTopic, done: make(chan struct{}), topics: map[string]*reader{}, changed: make(chan struct{}, 1)}
	g.ctx, g.stop = context.WithCancel(b.ctx)
	return g
}

// addLocked adds r and returns the generation a waker waits for.
func (g *group) addLocked(r *reader) uint64 {
	r.g = g
	g.topics[r.topic] = r
	g.gen++
	select {
	case g.changed <- struct{}{}:
	default:
	}
	return g.gen
}

// removeLocked removes r; a topic's own group stops.
func (g *group) removeLocked(r *reader) {
	if g.topics[r.topic] == r {
		delete(g.topics, r.topic)
		g.gen++
	}
	if g.perTopic {
		g.stop()
	}
}

// snapshot returns the XREAD streams argument for the current topics.
func (g *group) snapshot() (streams []string, readers map[string]*reader, gen uint64) {
	g.b.mu.Lock()
	defer g.b.mu.Unlock()
	n := len(g.topics)
	if n == 0 {
		return nil, nil, g.gen
	}
	streams = make([]string, 2*n)
	readers = make(map[string]*reader, n)
	i := 0
	for _, r := range g.topics {
		r.mu.Lock()
		streams[i], streams[n+i] = r.key, r.last.String()
		r.mu.Unlock()
		readers[r.key] = r
		i++
	}
	return streams, readers, g.gen
}

func (g *group) run() {
	defer close(g.done)
	defer g.dropConn()
	b := g.b
	topic := "" // for OnError: the topic of a per-topic group
	backoff := time.Duration(0)
	for g.ctx.Err() == nil {
		streams, readers, gen := g.snapshot()
		if len(readers) == 0 {
			if g.perTopic {
				return
			}
			g.dropConn() // idle: give the connection back
			select {
			case <-g.changed:
				continue
			case <-g.ctx.Done():
				return
			}
		}
		if g.perTopic {
			topic = readers[streams[0]].topic
		}
		g.reading.Store(gen)
		res, err := g.read(streams)
		if errors.Is(err, goredis.Nil) { // timed out, or woken
			backoff = 0
			b.unhealthy.Store(false)
			continue
		}
		if err != nil {
			if g.ctx.Err() != nil {
				return
			}
			b.errs.Add(1)
			b.unhealthy.Store(true)
			if b.opt.OnError != nil {
				b.opt.OnError(topic, err)
			}
			backoff = min(max(2*backoff, b.opt.MinBackoff), b.opt.MaxBackoff)
			t := time.NewTimer(rand.N(backoff) + 1)
			select {
			case <-t.C:
			case <-g.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		b.unhealthy.Store(false)
		for _, st := range res {
			if r := readers[st.Stream]; r != nil {
				for _, m := range st.Messages {
					r.deliver(m)
				}
			}
		}
	}
}

// read runs one XREAD BLOCK: on the group's own connection when it has
// one (opening it first), else on a pooled one.
func (g *group) read(streams []string) ([]goredis.XStream, error) {
	args := &goredis.XReadArgs{Streams: streams, Count: 256, Block: g.b.opt.Block}
	cl, ok := g.b.c.(*goredis.Client)
	if g.perTopic || !ok {
		return g.b.c.XRead(g.ctx, args).Result()
	}
	if g.conn == nil {
		conn := cl.Conn()
		id, err := conn.ClientID(g.ctx).Result()
		var reply goredis.Error
		if err != nil && !errors.As(err, &reply) {
			_ = conn.Close()
			return nil, err
		}
		// A server that refuses CLIENT ID (an ACL) still serves reads;
		// new topics then join when the current read times out.
		g.conn = conn
		g.connID.Store(id)
	}
	res, err := g.conn.XRead(g.ctx, args).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		g.dropConn() // its connection may be broken: open a new one
	}
	return res, err
}

func (g *group) dropConn() {
	if g.conn != nil {
		g.connID.Store(0)
		_ = g.conn.Close()
		g.conn = nil
	}
}

// wake makes the group read gen's topic set soon: it interrupts a read
// of an older set with CLIENT UNBLOCK, retrying while the group is
// between taking a set and blocking on it. It gives up after
// Options.Block, when such a read ends anyway, or when ctx is done.
func (g *group) wake(ctx context.Context, gen uint64) {
	if g.perTopic {
		return
	}
	deadline := time.Now().Add(g.b.opt.Block)
	pause := 100 * time.Microsecond
	for g.reading.Load() < gen && time.Now().Before(deadline) {
		if id := g.connID.Load(); id != 0 {
			n, err := g.b.c.ClientUnblock(ctx, id).Result()
			if err != nil || n == 1 {
				return // Redis trouble (the group retries on its own), or woken
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		case <-g.done:
			t.Stop()
			return
		}
		pause = min(2*pause, 10*time.Millisecond)
	}
}

// interrupt ends a read in progress so the stopped group exits now rather
// than when its read times out.
func (g *group) interrupt() {
	ctx, cancel := context.WithTimeout(context.Background(), g.b.opt.Block)
	defer cancel()
	pause := 100 * time.Microsecond
	for {
		if id := g.connID.Load(); id != 0 {
			_ = g.b.c.ClientUnblock(ctx, id).Err()
		}
		t := time.NewTimer(pause)
		select {
		case <-g.done:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 10*time.Millisecond)
	}
}
