package grpcx

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// defaultStreamLimit is what a client assumes of a server's
// SETTINGS_MAX_CONCURRENT_STREAMS before the SETTINGS frame arrives.
const defaultStreamLimit = 100

// Client is a pool of gRPC connections (grpc.ClientConns) to one target
// that implements grpc.ClientConnInterface, so generated stubs take it
// unchanged. Each RPC goes to the connection with the fewest RPCs in
// flight; a stream stays on the connection it started on. It is safe for
// concurrent use.
type Client struct {
	target string
	opts   ClientOptions
	base   []grpc.DialOption
	reg    *registry

	inFlight atomic.Int64
	closed   atomic.Bool
	idle     chan struct{} // a release saw inFlight reach 0 after Close

	mu     sync.Mutex
	active atomic.Pointer[[]*conn] // the connections new RPCs may use
	all    []*conn                 // active and retiring, until closed
	nextID int

	dialed, retired, goAways, tooManyPings atomic.Uint64

	ctx       context.Context // ends at Close: stops the watchers
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type conn struct {
	id         int
	cc         *grpc.ClientConn
	inFlight   atomic.Int64
	rpcs       atomic.Uint64
	goAways    atomic.Uint64
	maxStreams atomic.Uint32
	retired    atomic.Bool
	closeOnce  sync.Once
}

// NewClient returns a Client for target, a grpc-go target: "host:port" or
// "dns:///host:port" (every address the name resolves to is used, round
// robin), or "static:///host1:port,host2:port" for a fixed list. Options
// nil selects every default. It returns a *KeepaliveError when the
// keepalive settings break opts.ServerPolicy, and an error naming any
// other invalid option. It does not connect: the first RPCs do, or
// Connect.
func NewClient(target string, opts *ClientOptions) (*Client, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	sc, err := serviceConfig(&o)
	if err != nil {
		return nil, err
	}
	kp := keepalive.ClientParameters{Time: o.KeepaliveTime, Timeout: o.KeepaliveTimeout, PermitWithoutStream: o.KeepaliveWithoutStream}
	if o.KeepaliveTime < 0 {
		kp = keepalive.ClientParameters{Time: infinity, Timeout: o.KeepaliveTimeout}
	}
	c := &Client{
		target: target,
		opts:   o,
		reg:    newRegistry(o.LatencyBuckets, 0),
		idle:   make(chan struct{}, 1),
		base: []grpc.DialOption{
			grpc.WithKeepaliveParams(kp),
			grpc.WithDefaultServiceConfig(sc),
			grpc.WithDisableServiceConfig(), // DNS TXT records must not override the retry policy
			grpc.WithResolvers(staticBuilder{}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(o.MaxRecvMsgSize), grpc.MaxCallSendMsgSize(o.MaxSendMsgSize)),
			grpc.WithChainUnaryInterceptor(o.UnaryInterceptors...),
			grpc.WithChainStreamInterceptor(o.StreamInterceptors...),
		},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.active.Store(&[]*conn{})
	for range o.Conns {
		c.mu.Lock()
		_, err := c.dialLocked()
		c.mu.Unlock()
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// dialLocked opens a connection and adds it to the active ones.
func (c *Client) dialLocked() (*conn, error) {
	pc := &conn{id: c.nextID}
	c.nextID++
	creds := c.opts.Creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	ev := &frameEvents{
		settings: func(n uint32) { pc.maxStreams.Store(n) },
		goAway:   func(code uint32, debug string) { c.onGoAway(pc, code, debug) },
	}
	dopts := append(slices.Clone(c.base), grpc.WithTransportCredentials(&watchCreds{TransportCredentials: creds, client: ev}))
	cc, err := grpc.NewClient(c.target, append(dopts, c.opts.DialOptions...)...)
	if err != nil {
		return nil, err
	}
	pc.cc = cc
	cc.Connect()
	c.dialed.Add(1)
	c.all = append(c.all, pc)
	active := append(slices.Clone(*c.active.Load()), pc)
	c.active.Store(&active)
	c.wg.Go(func() { c.watch(pc) })
	return pc, nil
}

// watch retires a connection that reports TRANSIENT_FAILURE while another
// is usable; a lone connection is left to grpc-go's reconnect backoff.
func (c *Client) watch(pc *conn) {
	for {
		st := pc.cc.GetState()
		if st == connectivity.Shutdown {
			return
		}
		if st == connectivity.TransientFailure && c.othersUsable(pc) {
			c.retire(pc)
			return
		}
		if !pc.cc.WaitForStateChange(c.ctx, st) {
			return
		}
	}
}

func (c *Client) othersUsable(pc *conn) bool {
	for _, o := range *c.active.Load() {
		if o != pc && o.cc.GetState() != connectivity.TransientFailure {
			return true
		}
	}
	return false
}

func (c *Client) onGoAway(pc *conn, code uint32, debug string) {
	pc.goAways.Add(1)
	c.goAways.Add(1)
	if code == errCodeEnhanceYourCalm && debug == "too_many_pings" {
		c.tooManyPings.Add(1)
	}
	c.retire(pc)
}

// retire takes pc out of the active connections; it closes once its RPCs
// have finished. The next RPC opens a replacement if fewer than Conns are
// left.
func (c *Client) retire(pc *conn) {
	if pc.retired.Swap(true) {
		return
	}
	c.mu.Lock()
	active := slices.DeleteFunc(slices.Clone(*c.active.Load()), func(o *conn) bool { return o == pc })
	c.active.Store(&active)
	c.mu.Unlock()
	c.retired.Add(1)
	if pc.inFlight.Load() == 0 {
		c.closeConn(pc)
	}
}

// closeConn closes pc on a goroutine of the client's: it may be called on
// grpc-go's reader goroutine, which ClientConn.Close waits for.
func (c *Client) closeConn(pc *conn) {
	pc.closeOnce.Do(func() {
		c.wg.Go(func() {
			pc.cc.Close()
			c.mu.Lock()
			c.all = slices.DeleteFunc(c.all, func(o *conn) bool { return o == pc })
			c.mu.Unlock()
		})
	})
}

func (c *Client) limit(pc *conn) int64 {
	if c.opts.StreamLimit > 0 {
		return int64(c.opts.StreamLimit)
	}
	n := int64(defaultStreamLimit)
	if m := pc.maxStreams.Load(); m > 0 {
		n = int64(m)
	}
	if !c.opts.NoHealthCheck && n > 1 {
		n-- // the health Watch stream takes one
	}
	return n
}

// pick returns the active connection with the fewest RPCs in flight,
// opening one more when every connection is at its stream limit (or fewer
// than Conns are active), and counts the RPC on it. The count is taken with
// a compare-and-swap, so concurrent callers cannot all squeeze under one
// connection's limit.
func (c *Client) pick() (*conn, error) {
	for {
		active := *c.active.Load()
		var best *conn
		var bestN int64
		for _, pc := range active {
			if n := pc.inFlight.Load(); best == nil || n < bestN {
				best, bestN = pc, n
			}
		}
		full := len(active) >= c.opts.MaxConns
		if best != nil && len(active) >= c.opts.Conns && (bestN < c.limit(best) || full) {
			if !best.inFlight.CompareAndSwap(bestN, bestN+1) {
				continue
			}
			// retire sets retired before it looks at inFlight, and this
			// looks at retired after counting: a connection retired
			// meanwhile is either seen here or not closed under the RPC.
			if best.retired.Load() {
				c.unpick(best)
				continue
			}
			best.rpcs.Add(1)
			return best, nil
		}
		c.mu.Lock()
		if c.closed.Load() {
			c.mu.Unlock()
			return nil, closedError{}
		}
		if len(*c.active.Load()) != len(active) {
			c.mu.Unlock() // another caller grew or retired: look again
			continue
		}
		pc, err := c.dialLocked()
		if err != nil {
			c.mu.Unlock()
			return nil, status.Errorf(status.Code(err), "grpcx: opening a connection to %s: %v", c.target, err)
		}
		pc.inFlight.Add(1)
		pc.rpcs.Add(1)
		c.mu.Unlock()
		return pc, nil
	}
}

func (c *Client) release(pc *conn) {
	c.unpick(pc)
	c.done()
}

// unpick uncounts an RPC on pc, closing pc if it was the last on a retired
// connection.
func (c *Client) unpick(pc *conn) {
	if pc.inFlight.Add(-1) == 0 && pc.retired.Load() {
		c.closeConn(pc)
	}
}

func (c *Client) done() {
	if c.inFlight.Add(-1) == 0 && c.closed.Load() {
		select {
		case c.idle <- struct{}{}:
		default:
		}
	}
}

// Invoke performs a unary RPC; it implements grpc.ClientConnInterface.
func (c *Client) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	c.inFlight.Add(1)
	if c.closed.Load() {
		c.done()
		return closedError{}
	}
	pc, err := c.pick()
	if err != nil {
		c.done()
		return err
	}
	if _, ok := ctx.Deadline(); !ok && c.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	start := time.Now()
	err = pc.cc.Invoke(ctx, method, args, reply, opts...)
	c.release(pc)
	c.reg.observe(c.reg.method(method), rpcKey{method: method, code: status.Code(err)}, time.Since(start), false, 0, 0)
	return err
}

// NewStream begins a streaming RPC on the connection with the fewest RPCs
// in flight, where it stays; it implements grpc.ClientConnInterface. As
// with grpc-go, the stream's resources are freed when RecvMsg returns an
// error (io.EOF at the end) or ctx is cancelled.
func (c *Client) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c.inFlight.Add(1)
	if c.closed.Load() {
		c.done()
		return nil, closedError{}
	}
	pc, err := c.pick()
	if err != nil {
		c.done()
		return nil, err
	}
	start := time.Now()
	s := &clientStream{}
	var once sync.Once
	finish := func(err error) {
		once.Do(func() {
			c.release(pc)
			c.reg.observe(c.reg.method(method), rpcKey{method: method, code: status.Code(err)}, time.Since(start), true, s.sent.Load(), s.recv.Load())
		})
	}
	cs, err := pc.cc.NewStream(ctx, desc, method, append(opts, grpc.OnFinish(finish))...)
	if err != nil {
		finish(err)
		return nil, err
	}
	s.ClientStream = cs
	return s, nil
}

// clientStream counts a stream's messages.
type clientStream struct {
	grpc.ClientStream
	sent, recv atomic.Uint64
}

func (s *clientStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err == nil {
		s.sent.Add(1)
	}
	return err
}

func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		s.recv.Add(1)
	}
	return err
}

// Connect makes every connection start connecting now rather than at its
// first RPC.
func (c *Client) Connect() {
	for _, pc := range *c.active.Load() {
		pc.cc.Connect()
	}
}

// Close stops new RPCs (they fail with CANCELED, matching ErrClosed),
// waits up to CloseTimeout for those in flight, closes every connection
// (cancelling what is left) and waits for the client's goroutines. It is
// idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if c.opts.CloseTimeout > 0 && c.inFlight.Load() > 0 {
			t := time.NewTimer(c.opts.CloseTimeout)
		wait:
			for c.inFlight.Load() > 0 {
				select {
				case <-c.idle:
				case <-t.C:
					break wait
				}
			}
			t.Stop()
		}
		c.mu.Lock()
		all := slices.Clone(c.all)
		c.mu.Unlock()
		for _, pc := range all {
			c.closeConn(pc)
		}
		c.cancel()
	})
	c.wg.Wait()
	return nil
}

// ConnStats describes one connection of a Client.
type ConnStats struct {
	// ID numbers connections in the order they were opened.
	ID int
	// State is the connectivity state: IDLE, CONNECTING, READY,
	// TRANSIENT_FAILURE or SHUTDOWN.
	State string
	// InFlight is the number of RPCs on it now, RPCs of all it carried.
	InFlight int64
	RPCs     uint64
	// MaxStreams is the server's SETTINGS_MAX_CONCURRENT_STREAMS, 0 until
	// known.
	MaxStreams uint32
	// GoAways counts GOAWAY frames it received.
	GoAways uint64
	// Retired is true once it takes no new RPCs (GOAWAY, TRANSIENT_FAILURE);
	// it closes when its RPCs finish.
	Retired bool
}

// ClientStats is a snapshot of a Client's counters.
type ClientStats struct {
	// Conns has one entry per open connection, active or retiring.
	Conns []ConnStats
	// InFlight is the number of RPCs in flight.
	InFlight int64
	// Dialed counts connections opened, Retired those taken out of use.
	Dialed, Retired uint64
	// GoAways counts GOAWAY frames received; TooManyPings those whose
	// reason was too_many_pings, meaning the keepalive settings break the
	// server's policy: fix ClientOptions.ServerPolicy and KeepaliveTime.
	GoAways, TooManyPings uint64
	// Methods has one entry per method that finished an RPC, by name.
	Methods []MethodStats
	// RPCs counts finished RPCs by method and status code (Peer is empty).
	RPCs []RPCCount
}

// Stats returns a snapshot of the counters. It is safe to call
// concurrently with everything else.
func (c *Client) Stats() ClientStats {
	st := ClientStats{
		InFlight: c.inFlight.Load(), Dialed: c.dialed.Load(), Retired: c.retired.Load(),
		GoAways: c.goAways.Load(), TooManyPings: c.tooManyPings.Load(),
	}
	c.mu.Lock()
	all := slices.Clone(c.all)
	c.mu.Unlock()
	for _, pc := range all {
		st.Conns = append(st.Conns, ConnStats{
			ID: pc.id, State: pc.cc.GetState().String(), InFlight: pc.inFlight.Load(), RPCs: pc.rpcs.Load(),
			MaxStreams: pc.maxStreams.Load(), GoAways: pc.goAways.Load(), Retired: pc.retired.Load(),
		})
	}
	st.Methods, st.RPCs = c.reg.snapshot()
	return st
}
