package httpx_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// patientHTTP3 lets a QUIC handshake run alone for as long as a test may
// take, so on a loaded machine the handshake still wins the race: the
// tests below are about discovery and fallback, not about timing.
var patientHTTP3 = &httpx.HTTP3Options{RaceDelay: 20 * time.Second}

func TestHTTP3LearnsAltSvc(t *testing.T) {
	srv := startServer(t, hello, nil, true, false)
	c := newClient(t, &httpx.Options{HTTP3: patientHTTP3})
	ctx := testCtx(t)
	key := "127.0.0.1:" + strconv.Itoa(srv.Port)

	resp, body := get(t, ctx, c.Client, srv.URL)
	if body != "HTTP/2.0" {
		t.Fatalf("first request over %s, want HTTP/2.0 (nothing known yet)", body)
	}
	if want := `h3=":` + strconv.Itoa(srv.Port) + `"`; resp.Header.Get("Alt-Svc") != want {
		t.Errorf("Alt-Svc %q, want %q", resp.Header.Get("Alt-Svc"), want)
	}
	for i := range 3 {
		resp, body = get(t, ctx, c.Client, srv.URL)
		if body != "HTTP/3.0" || resp.Proto != "HTTP/3.0" {
			t.Fatalf("request %d over %s (resp.Proto %s), want HTTP/3.0", i+2, body, resp.Proto)
		}
	}
	st := c.Stats()
	if st.HTTP2 != 1 || st.HTTP3 != 3 {
		t.Errorf("counts %+v, want 1 HTTP/2 and 3 HTTP/3 responses", st.Counts)
	}
	h3 := st.H3
	if h3.Races != 1 || h3.QUICWon != 1 || h3.QUICDials != 1 || h3.QUICDialErrors != 0 {
		t.Errorf("HTTP/3 stats %+v, want one race, won by QUIC, one dial", h3)
	}
	o := h3.Origins[key]
	if o.Authority != key || !o.Connected || !o.BrokenUntil.IsZero() {
		t.Errorf("origin %s: %+v, want h3 at %s, connected, not broken", key, o, key)
	}
	if h := st.Hosts[key]; h.Reused < 2 || h.Dials != 2 || h.TLSHandshakes != 2 {
		t.Errorf("host counts %+v, want a TCP and a QUIC connection, later requests reusing QUIC", h)
	}
	if ss := srv.Stats(); ss.HTTP2 != 1 || ss.HTTP3 != 3 {
		t.Errorf("server stats %+v", ss)
	}
}

// TestHTTP3FallsBackWhenUDPIsBlocked advertises HTTP/3 on a UDP port where
// nothing listens: requests go over TCP, the origin is marked broken, and
// later requests do not try QUIC again.
func TestHTTP3FallsBackWhenUDPIsBlocked(t *testing.T) {
	var port atomic.Int64
	advertise := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Alt-Svc", `h3=":`+strconv.Itoa(int(port.Load()))+`"`)
		io.WriteString(w, r.Proto)
	})
	srv := startServer(t, advertise, nil, false, false) // TCP only
	port.Store(int64(srv.Port))
	c := newClient(t, &httpx.Options{HTTP3: &httpx.HTTP3Options{RaceDelay: 50 * time.Millisecond, HandshakeTimeout: 300 * time.Millisecond}})
	ctx := testCtx(t)
	key := "127.0.0.1:" + strconv.Itoa(srv.Port)

	if _, body := get(t, ctx, c.Client, srv.URL); body != "HTTP/2.0" {
		t.Fatalf("first request over %s", body)
	}
	// With no TCP connection open, the race's TCP leg dials one, and the
	// request uses that connection rather than dialing another.
	c.CloseIdleConnections()
	testenv.WaitFor(t, 10*time.Second, "idle connections to close", func() bool { return c.Stats().Open == 0 })
	before := c.Stats().TLSHandshakes
	if _, body := get(t, ctx, c.Client, srv.URL); body != "HTTP/2.0" {
		t.Fatalf("second request over %s, want HTTP/2.0 while QUIC gets no answer", body)
	}
	st := c.Stats()
	if st.TLSHandshakes != before+1 {
		t.Errorf("%d TCP handshakes for the raced request, want 1", st.TLSHandshakes-before)
	}
	if st.H3.Races != 1 || st.H3.TCPWon != 1 {
		t.Errorf("HTTP/3 stats %+v, want one race won by TCP", st.H3)
	}

	testenv.WaitFor(t, 10*time.Second, "the origin to be marked broken", func() bool {
		return !c.Stats().H3.Origins[key].BrokenUntil.IsZero()
	})
	for range 3 {
		if _, body := get(t, ctx, c.Client, srv.URL); body != "HTTP/2.0" {
			t.Fatalf("request over %s after the origin broke", body)
		}
	}
	st = c.Stats()
	h3 := st.H3
	if h3.Races != 1 || h3.QUICDials != 1 || h3.QUICDialErrors != 1 || h3.BrokenMarks != 1 {
		t.Errorf("HTTP/3 stats %+v: want the one failed QUIC dial, no race once broken", h3)
	}
	if o := h3.Origins[key]; o.Failures != 1 || time.Until(o.BrokenUntil) < 4*time.Minute {
		t.Errorf("origin %+v, want broken for about 5 minutes after one failure", o)
	}
	if st.HTTP2 != 5 || st.Failures != 0 {
		t.Errorf("counts %+v, want 5 HTTP/2 responses", st.Counts)
	}
}

func TestHTTP3AltSvcClear(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/clear" {
			w.Header().Set("Alt-Svc", "clear")
		}
		io.WriteString(w, r.Proto)
	})
	srv := startServer(t, h, nil, true, false)
	c := newClient(t, &httpx.Options{HTTP3: patientHTTP3})
	ctx := testCtx(t)
	key := "127.0.0.1:" + strconv.Itoa(srv.Port)
	for i, want := range []string{"HTTP/2.0", "HTTP/3.0"} {
		if _, body := get(t, ctx, c.Client, srv.URL); body != want {
			t.Fatalf("request %d over %s, want %s", i+1, body, want)
		}
	}
	if _, body := get(t, ctx, c.Client, srv.URL+"clear"); body != "HTTP/3.0" {
		t.Fatalf("/clear over %s", body)
	}
	if o := c.Stats().H3.Origins[key]; o.Authority != "" {
		t.Errorf("after Alt-Svc: clear the origin still has h3 at %q", o.Authority)
	}
	if _, body := get(t, ctx, c.Client, srv.URL); body != "HTTP/2.0" {
		t.Errorf("request after Alt-Svc: clear over %s, want HTTP/2.0", body)
	}
}

// TestHTTP3RetryRules aborts requests that arrive over HTTP/3: they are
// retried over TCP only when the body can be rewound and the request is
// idempotent.
func TestHTTP3RetryRules(t *testing.T) {
	var h3Attempts, tcpAttempts atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/abort" {
			if r.ProtoMajor == 3 {
				h3Attempts.Add(1)
				panic(http.ErrAbortHandler) // resets the stream
			}
			tcpAttempts.Add(1)
		}
		io.WriteString(w, r.Proto+" "+string(body))
	})
	srv := startServer(t, h, nil, true, false)
	c := newClient(t, &httpx.Options{HTTP3: patientHTTP3})
	ctx := testCtx(t)
	for i, want := range []string{"HTTP/2.0 ", "HTTP/3.0 "} {
		if _, body := get(t, ctx, c.Client, srv.URL); body != want {
			t.Fatalf("request %d: %q, want %q", i+1, body, want)
		}
	}

	for _, tc := range []struct {
		name, method string
		rewindable   bool
		header       string
		retried      bool
		errHas       string
	}{
		{name: "PUT, rewindable", method: http.MethodPut, rewindable: true, retried: true},
		{name: "PUT, GetBody nil", method: http.MethodPut, errHas: "cannot be rewound"},
		{name: "POST, rewindable", method: http.MethodPost, rewindable: true, errHas: "not idempotent"},
		{name: "POST with Idempotency-Key", method: http.MethodPost, rewindable: true, header: "Idempotency-Key", retried: true},
		{name: "GET", method: http.MethodGet, retried: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h3Before, tcpBefore := h3Attempts.Load(), tcpAttempts.Load()
			var body io.Reader
			if tc.method != http.MethodGet {
				body = io.NopCloser(strings.NewReader("payload"))
				if tc.rewindable {
					body = strings.NewReader("payload") // NewRequest sets GetBody
				}
			}
			req, err := http.NewRequestWithContext(ctx, tc.method, srv.URL+"abort", body)
			if err != nil {
				t.Fatal(err)
			}
			if (req.GetBody != nil) != (tc.rewindable && body != nil) {
				t.Fatalf("GetBody set: %v", req.GetBody != nil)
			}
			if tc.header != "" {
				req.Header.Set(tc.header, "k1")
			}
			resp, err := c.Do(req)
			if tc.retried {
				if err != nil {
					t.Fatalf("not retried: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := "HTTP/2.0 "
				if body != nil {
					want += "payload"
				}
				if string(b) != want {
					t.Errorf("retried response %q, want %q", b, want)
				}
			} else {
				if err == nil {
					resp.Body.Close()
					t.Fatal("succeeded; want the HTTP/3 error, not a retry")
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q lacks %q", err, tc.errHas)
				}
			}
			if n := h3Attempts.Load() - h3Before; n != 1 {
				t.Errorf("%d HTTP/3 attempts, want 1", n)
			}
			wantTCP := int64(0)
			if tc.retried {
				wantTCP = 1
			}
			if n := tcpAttempts.Load() - tcpBefore; n != wantTCP {
				t.Errorf("%d TCP attempts, want %d", n, wantTCP)
			}
		})
	}
	st := c.Stats().H3
	if st.Retries != 3 || st.NotRetried != 2 || st.BrokenMarks != 0 {
		t.Errorf("HTTP/3 stats %+v, want 3 retries, 2 not retried, nothing broken (stream errors do not break a path)", st)
	}
	if _, body := get(t, ctx, c.Client, srv.URL); body != "HTTP/3.0 " {
		t.Errorf("after the aborted requests: %q, want HTTP/3 still in use", body)
	}
}

// TestHTTP3NotAdvertised: a server that speaks HTTP/2 only, or sends a
// malformed Alt-Svc, is never raced.
func TestHTTP3NotAdvertised(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.Header().Set("Alt-Svc", `h3=":99999"`)
		}
		io.WriteString(w, r.Proto)
	})
	srv := startServer(t, h, nil, false, false)
	c := newClient(t, &httpx.Options{HTTP3: &httpx.HTTP3Options{}})
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Second)
	defer cancel()
	for _, path := range []string{"", "bad", "", "bad"} {
		if _, body := get(t, ctx, c.Client, srv.URL+path); body != "HTTP/2.0" {
			t.Fatalf("/%s over %s", path, body)
		}
	}
	if st := c.Stats().H3; st.Races != 0 || st.QUICDials != 0 || st.AltSvcErrors != 2 {
		t.Errorf("HTTP/3 stats %+v, want no race and 2 malformed Alt-Svc headers", st)
	}
}

// TestHTTP3AlternativeHost follows an Alt-Svc that names another host: the
// QUIC connection goes there (resolved through the Resolver), and the TLS
// handshake still verifies the origin's name.
func TestHTTP3AlternativeHost(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("h3.test", testenv.DNSRecord{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, TTL: 60})
	var port atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor < 3 {
			w.Header().Set("Alt-Svc", `h3="h3.test:`+strconv.Itoa(int(port.Load()))+`"; ma=60`)
		}
		io.WriteString(w, r.Proto)
	})
	srv := startServer(t, h, nil, true, false)
	port.Store(int64(srv.Port))
	c := newClient(t, &httpx.Options{HTTP3: patientHTTP3, Resolver: newResolver(t, dns, nil)})
	ctx := testCtx(t)
	for i, want := range []string{"HTTP/2.0", "HTTP/3.0"} {
		if _, body := get(t, ctx, c.Client, srv.URL); body != want {
			t.Fatalf("request %d over %s, want %s", i+1, body, want)
		}
	}
	key := "127.0.0.1:" + strconv.Itoa(srv.Port)
	o := c.Stats().H3.Origins[key]
	if o.Authority != "h3.test:"+strconv.Itoa(srv.Port) || time.Until(o.Expires) > time.Minute {
		t.Errorf("origin %+v, want h3 at h3.test for 60s", o)
	}
	if h := c.Stats().Hosts[key]; h.DNSLookups != 1 {
		t.Errorf("host counts %+v, want the alternative's lookup", h)
	}
}

// TestHTTP3BrokenBackoffDoubles lets a broken mark expire: the next request
// races QUIC again, fails again, and the origin is marked broken for twice
// as long.
func TestHTTP3BrokenBackoffDoubles(t *testing.T) {
	var port atomic.Int64
	advertise := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Alt-Svc", `h3=":`+strconv.Itoa(int(port.Load()))+`"`)
		io.WriteString(w, r.Proto)
	})
	srv := startServer(t, advertise, nil, false, false) // nothing on UDP
	port.Store(int64(srv.Port))
	const backoff = 50 * time.Millisecond
	c := newClient(t, &httpx.Options{HTTP3: &httpx.HTTP3Options{
		RaceDelay: time.Millisecond, HandshakeTimeout: 100 * time.Millisecond, BrokenBackoff: backoff,
	}})
	ctx := testCtx(t)
	key := "127.0.0.1:" + strconv.Itoa(srv.Port)
	origin := func() httpx.H3Origin { return c.Stats().H3.Origins[key] }

	get(t, ctx, c.Client, srv.URL) // learns Alt-Svc
	get(t, ctx, c.Client, srv.URL) // races; QUIC never answers
	testenv.WaitFor(t, 10*time.Second, "the first broken mark", func() bool { return origin().Failures == 1 })
	first := origin().BrokenUntil
	testenv.WaitFor(t, 10*time.Second, "the mark to expire", func() bool { return origin().BrokenUntil.IsZero() })
	get(t, ctx, c.Client, srv.URL) // races again
	testenv.WaitFor(t, 10*time.Second, "the second broken mark", func() bool { return origin().Failures == 2 })
	second := origin().BrokenUntil
	if !second.IsZero() && second.Sub(first) <= 2*backoff {
		t.Errorf("second mark ends %v after the first, want more than %v (marked after the first ended, for 2×%v)", second.Sub(first), 2*backoff, backoff)
	}
	if st := c.Stats().H3; st.Races != 2 || st.BrokenMarks != 2 || st.QUICDialErrors != 2 {
		t.Errorf("HTTP/3 stats %+v, want 2 races, 2 failed dials, 2 marks", st)
	}
}

// TestHTTP3RaceBothLegs races QUIC against a new TCP connection with a
// 1ms head start, from cold, several times: whichever wins, the request
// succeeds and the losing connection is not leaked.
func TestHTTP3RaceBothLegs(t *testing.T) {
	srv := startServer(t, hello, nil, true, false)
	c := newClient(t, &httpx.Options{HTTP3: &httpx.HTTP3Options{RaceDelay: time.Millisecond}})
	ctx := testCtx(t)
	get(t, ctx, c.Client, srv.URL) // learns Alt-Svc
	const races = 5
	for range races {
		c.CloseIdleConnections()
		testenv.WaitFor(t, 10*time.Second, "every connection to close", func() bool { return c.Stats().Open == 0 })
		if _, body := get(t, ctx, c.Client, srv.URL); body != "HTTP/2.0" && body != "HTTP/3.0" {
			t.Fatalf("raced request: %q", body)
		}
	}
	st := c.Stats()
	if st.H3.Races != races || st.H3.QUICWon+st.H3.TCPWon != races || st.Failures != 0 {
		t.Errorf("HTTP/3 stats %+v, counts %+v: want %d races, each won by one side", st.H3, st.Counts, races)
	}
	t.Logf("QUIC won %d, TCP won %d", st.H3.QUICWon, st.H3.TCPWon)
	c.CloseIdleConnections()
	testenv.WaitFor(t, 10*time.Second, "every connection to close", func() bool { return c.Stats().Open == 0 })
}

// TestHTTP3LateQUICAfterCloseIdle holds a race's QUIC handshake until
// after CloseIdleConnections: the connection it makes is used by no request
// and must be closed, not kept open until the QUIC idle timeout.
func TestHTTP3LateQUICAfterCloseIdle(t *testing.T) {
	var gatePort atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Alt-Svc", `h3=":`+strconv.Itoa(int(gatePort.Load()))+`"`)
		io.WriteString(w, r.Proto)
	})
	srv := startServer(t, h, nil, true, false)
	gate := startUDPGate(t, srv.Port)
	gatePort.Store(int64(gate.port))
	c := newClient(t, &httpx.Options{HTTP3: &httpx.HTTP3Options{RaceDelay: time.Millisecond}})
	ctx := testCtx(t)
	key := "127.0.0.1:" + strconv.Itoa(srv.Port)

	get(t, ctx, c.Client, srv.URL) // learns Alt-Svc
	// The QUIC handshake waits at the gate; the open TCP connection wins.
	if _, body := get(t, ctx, c.Client, srv.URL); body != "HTTP/2.0" {
		t.Fatalf("raced request over %s, want HTTP/2.0 while QUIC waits", body)
	}
	c.CloseIdleConnections()
	gate.open()
	testenv.WaitFor(t, 10*time.Second, "the QUIC handshake to finish", func() bool {
		h := c.Stats().Hosts[key]
		return h.Dials-h.DialErrors == 2
	})
	testenv.WaitFor(t, 10*time.Second, "every connection to close", func() bool { return c.Stats().Open == 0 })
	if o := c.Stats().H3.Origins[key]; o.Connected {
		t.Errorf("origin %+v: the late QUIC connection is still kept", o)
	}
	st := c.Stats()
	if st.H3.Races != 1 || st.H3.TCPWon != 1 || st.H3.QUICDials != 1 || st.H3.QUICDialErrors != 0 {
		t.Errorf("HTTP/3 stats %+v, want one race won by TCP and one QUIC dial that succeeded", st.H3)
	}
}

// TestHTTP3CloseIdleKeepsAwaitedQUIC calls CloseIdleConnections while a
// request waits for a QUIC handshake: the handshake's connection is the
// request's, not idle, and carries it.
func TestHTTP3CloseIdleKeepsAwaitedQUIC(t *testing.T) {
	var gatePort atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Alt-Svc", `h3=":`+strconv.Itoa(int(gatePort.Load()))+`"`)
		io.WriteString(w, r.Proto)
	})
	srv := startServer(t, h, nil, true, false)
	gate := startUDPGate(t, srv.Port)
	gatePort.Store(int64(gate.port))
	c := newClient(t, &httpx.Options{HTTP3: patientHTTP3})
	ctx := testCtx(t)

	get(t, ctx, c.Client, srv.URL) // learns Alt-Svc
	done := make(chan string, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			done <- err.Error()
			return
		}
		resp, err := c.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- string(b)
	}()
	testenv.WaitFor(t, 10*time.Second, "the request to wait for QUIC", func() bool { return c.Stats().H3.Races == 1 })
	c.CloseIdleConnections()
	gate.open()
	if body := <-done; body != "HTTP/3.0" {
		t.Fatalf("request over %q, want HTTP/3.0 on the handshake it waited for", body)
	}
	if st := c.Stats().H3; st.QUICDials != 1 || st.QUICWon != 1 {
		t.Errorf("HTTP/3 stats %+v, want one QUIC dial, used by the request", st)
	}
}

// udpGate relays UDP datagrams between clients and a local server port,
// holding the clients' datagrams until open is called: a QUIC handshake
// through it waits for the test.
type udpGate struct {
	pc     *net.UDPConn
	port   int
	server *net.UDPAddr
	wg     sync.WaitGroup

	mu     sync.Mutex // protects opened, held, ups
	opened bool
	held   []gatePacket
	ups    map[netip.AddrPort]*net.UDPConn
}

type gatePacket struct {
	from netip.AddrPort
	b    []byte
}

func startUDPGate(t testing.TB, serverPort int) *udpGate {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	g := &udpGate{
		pc:     pc,
		port:   pc.LocalAddr().(*net.UDPAddr).Port,
		server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: serverPort},
		ups:    map[netip.AddrPort]*net.UDPConn{},
	}
	g.wg.Go(g.fromClients)
	t.Cleanup(func() {
		pc.Close()
		g.mu.Lock()
		for _, up := range g.ups {
			up.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
	return g
}

func (g *udpGate) fromClients() {
	buf := make([]byte, 65536)
	for {
		n, from, err := g.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		p := gatePacket{from, append([]byte(nil), buf[:n]...)}
		g.mu.Lock()
		if !g.opened {
			g.held = append(g.held, p)
			g.mu.Unlock()
			continue
		}
		g.forwardLocked(p)
		g.mu.Unlock()
	}
}

// forwardLocked sends p to the server from the client's own upstream
// socket, whose replies go back to the client.
func (g *udpGate) forwardLocked(p gatePacket) {
	up := g.ups[p.from]
	if up == nil {
		var err error
		up, err = net.DialUDP("udp", nil, g.server)
		if err != nil {
			return
		}
		g.ups[p.from] = up
		g.wg.Go(func() {
			buf := make([]byte, 65536)
			for {
				n, err := up.Read(buf)
				if err != nil {
					return
				}
				g.pc.WriteToUDPAddrPort(buf[:n], p.from)
			}
		})
	}
	up.Write(p.b)
}

// open lets the held datagrams and all later ones through.
func (g *udpGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = true
	for _, p := range g.held {
		g.forwardLocked(p)
	}
	g.held = nil
}
