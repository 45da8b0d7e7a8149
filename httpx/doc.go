// Package httpx makes HTTP clients reuse connections and pick the fastest
// protocol, and makes HTTP servers serve HTTP/1.1, HTTP/2 and HTTP/3 on one
// port and drain gracefully on deploy.
//
// # Quick start
//
// Create one client for the program and share it:
//
//	client, err := httpx.NewClient(&httpx.Options{
//		HTTP3: &httpx.HTTP3Options{}, // learn Alt-Svc, race QUIC against TCP
//	})
//	if err != nil {
//		return err
//	}
//	defer client.Close()
//	resp, err := client.Get(url) // https://api.example.com/v1/items
//	…
//	st := client.Stats() // requests per protocol, reuse ratio, handshakes, DNS hits
//
// Serve one handler over all three protocols:
//
//	srv, err := httpx.NewServer(mux, &httpx.ServerOptions{
//		TLSConfig:  tlsConfig,
//		DrainDelay: 5 * time.Second, // behind a load balancer
//	})
//	mux.Handle("GET /readyz", srv.ReadyHandler())
//	go srv.ListenAndServe(":443") // TCP and UDP
//	<-ctx.Done()                  // SIGTERM
//	srv.Shutdown(context.Background())
//
// For development, [NewDevCert] makes a self-signed certificate for
// localhost and its clients' trust, in place of tlsConfig above:
//
//	dev, err := httpx.NewDevCert() // localhost, 127.0.0.1, ::1; 13 days; never for production
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv, err := httpx.NewServer(mux, &httpx.ServerOptions{TLSConfig: dev.ServerTLS()})
//	…
//	client, err := httpx.NewClient(&httpx.Options{TLSConfig: dev.ClientTLS()})
//
// Chromium accepts it, over HTTP/3 too, with
// --ignore-certificate-errors-spki-list=[DevCert.SPKIHash], and
// WebTransport with serverCertificateHashes set to [DevCert.CertHash].
//
// # Clients
//
// [NewTransport] and [NewClient] build an http.Transport with defaults for
// services rather than browsers, each documented on [Options] with its
// reason: 64 idle connections per host instead of net/http's 2 (which
// turns every burst above 2 concurrent HTTP/1.1 requests into new TCP and
// TLS handshakes), a 5s dial timeout, a response-header timeout, an idle
// timeout just under common load balancers' 60s, HTTP/2 with PING health
// checks, TLS session resumption.
//
// Concurrent first requests to an origin share one dial when it speaks
// HTTP/2: while a TLS dial to the origin is in flight, the others wait for
// it to learn the protocol, and use its connection if it is HTTP/2 or dial
// their own if it is HTTP/1.1 (net/http alone dials once per request until
// it knows, so a burst of 50 costs 50 handshakes for one connection kept).
// Origins last seen on HTTP/1.1 are dialed without waiting. Requests
// through a proxy are not coalesced.
//
// Host names are resolved by a [Resolver] that caches answers for their
// DNS TTL (it sends its own queries with dnsmessage to learn the TTL),
// coalesces concurrent lookups, serves a stale answer for a bounded time
// while it refreshes, and caches failures briefly. A [Dialer] connects to
// the addresses Happy Eyeballs style (RFC 8305): IPv6 and IPv4 interleaved,
// attempts staggered by 250ms.
//
// [Transport.Stats] counts, overall and per host, requests by protocol,
// connections opened, reused (with their idle time) and closed, TLS
// handshakes, time spent connecting, and DNS lookups and cache hits — from
// a DialContext wrapper and httptrace, without a metrics dependency.
//
// # HTTP/3
//
// With [Options].HTTP3 set, a Transport learns from Alt-Svc response
// headers which origins serve HTTP/3. For those it starts a QUIC handshake,
// and if that has not finished within [HTTP3Options].RaceDelay (300ms, as
// Chromium) starts TCP as well; the request takes whichever connection is
// ready first. An origin whose QUIC handshake fails (UDP blocked, say) is
// marked broken for 5 minutes, doubling on each further failure, and its
// requests go over TCP without waiting. A request that fails over HTTP/3 is
// retried over TCP only when its body can be rewound (Request.GetBody) and
// it is idempotent or was never sent. resp.Proto tells which protocol
// carried a response.
//
// # Servers
//
// A [Server] serves HTTP/1.1 and HTTP/2 over TLS on a TCP listener and
// HTTP/3 on a UDP socket with the same port number ([Listen] binds both),
// and adds an Alt-Svc header to TCP responses. Keep-alive and header
// timeouts have defaults; MaxConnAge retires old TCP connections with
// jitter so that clients rebalance across instances.
//
// [Server.Shutdown] drains in the order a rolling deploy needs: the
// readiness handler turns 503 and the [Server.OnDrain] hooks tell
// long-lived connections (WebSocket, SSE) to go away; after DrainDelay the
// listeners close; requests in flight get DrainTimeout to finish; the rest
// is closed.
//
// [Server.RegisterOnShutdown] is OnDrain under *http.Server's name, so the
// ws Hub's and the sse Server's RegisterOnShutdown, which accept anything
// with a RegisterOnShutdown(func()) method, take a Server as they take an
// *http.Server: hub.RegisterOnShutdown(srv, 10*time.Second) makes the hub
// tell its clients to go away when draining starts, while requests are
// still served, rather than when the listeners close.
//
// [ServerOptions].HTTP3Conns hands the HTTP/3 connections to an
// [HTTP3ConnServer] instead: NewServer lets it configure the http3.Server
// and the QUIC listener (the Server keeps its handler wrapper, idle
// timeout and 0-RTT off), and Serve gives it each accepted QUIC
// connection. wt.Server is one: WebTransport then shares the port, the
// TLS config and the Alt-Svc with everything else.
//
//	wts, err := wt.NewServer(handler, nil)
//	mux.Handle("/wt", wts) // WebTransport CONNECT and the WebSocket fallback
//	srv, err := httpx.NewServer(mux, &httpx.ServerOptions{TLSConfig: tlsConfig, HTTP3Conns: wts})
//	wts.RegisterOnShutdown(srv, 10*time.Second) // sessions told to reconnect when draining starts
//
// Those connections get no HTTP/3 GOAWAY (quic-go's raw connection API has
// none): Shutdown stops accepting, waits up to DrainTimeout for HTTP/3
// requests in flight (WebTransport sessions count as requests), then
// closes the connections with H3_NO_ERROR.
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor. The error names the field: "httpx: ServerOptions.IdleTimeout
// is negative (-1s)". Here negative disables timeouts that net/http lets
// one disable (TLSHandshakeTimeout, ResponseHeaderTimeout,
// ExpectContinueTimeout, ReadHeaderTimeout), keep-alive probes, the Happy
// Eyeballs and QUIC head-start delays, and the Resolver's TTL floor,
// negative caching, stale answers and cache.
//
// # Caveats
//
// HTTP/3 is never used through a proxy, and only the first address of an
// HTTP/3 host is tried (QUIC gives no fast failure to race on). The
// Resolver leaves names that the system resolves differently (hosts-file
// names, single-label and search-list names, .local) to net.Resolver,
// whose answers carry no TTL and are cached for FallbackTTL. A Server does
// not age HTTP/3 connections (quic-go has no per-connection GOAWAY).
// Browsers only use HTTP/3 with certificates from a trusted CA.
package httpx
