package httpx_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// serveExample starts an httpx.Server with a fresh development certificate
// on a loopback port, TCP and UDP, and returns its URL and a stop function.
func serveExample(h http.Handler, opts *httpx.ServerOptions) (url string, cert *httpx.DevCert, srv *httpx.Server, stop func()) {
	cert, err := httpx.NewDevCert()
	if err != nil {
		log.Fatal(err)
	}
	if opts == nil {
		opts = &httpx.ServerOptions{}
	}
	opts.TLSConfig = cert.ServerTLS()
	srv, err = httpx.NewServer(h, opts)
	if err != nil {
		log.Fatal(err)
	}
	l, pc, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		srv.Serve(l, pc)
		close(done)
	}()
	port := l.Addr().String()[len("127.0.0.1:"):]
	return "https://localhost:" + port + "/", cert, srv, func() {
		srv.Close()
		<-done
	}
}

// protoHandler answers with the protocol of the request.
var protoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, r.Proto)
})

// A development certificate gives a local TLS Server (HTTP/1.1, HTTP/2
// and HTTP/3 on one port) and clients that trust it, without x509 code.
func ExampleNewDevCert() {
	dev, err := httpx.NewDevCert() // localhost, 127.0.0.1, ::1; 13 days; never for production
	if err != nil {
		log.Fatal(err)
	}
	srv, err := httpx.NewServer(protoHandler, &httpx.ServerOptions{TLSConfig: dev.ServerTLS()})
	if err != nil {
		log.Fatal(err)
	}
	tcp, udp, err := httpx.Listen("127.0.0.1:0") // ":8443" in a real program
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(tcp, udp)
	defer srv.Close()

	client, err := httpx.NewClient(&httpx.Options{TLSConfig: dev.ClientTLS()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	resp, err := client.Get("https://" + tcp.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body), dev.Leaf().DNSNames, dev.Leaf().IPAddresses)
	// For Chromium: --ignore-certificate-errors-spki-list=<dev.SPKIHash()>;
	// for WebTransport: serverCertificateHashes [{algorithm: "sha-256",
	// value: <dev.CertHash()>}].
	fmt.Println(len(dev.SPKIHash()), "base64 characters,", len(dev.CertHash()), "bytes")
	// Output:
	// HTTP/2.0 [localhost] [127.0.0.1 ::1]
	// 44 base64 characters, 32 bytes
}

// One client, created once and shared, keeps its connection: three
// requests, one TCP+TLS handshake.
func ExampleNewClient() {
	url, cert, _, stop := serveExample(protoHandler, nil)
	defer stop()

	client, err := httpx.NewClient(&httpx.Options{TLSConfig: cert.ClientTLS()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	for range 3 {
		resp, err := client.Get(url)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	st := client.Stats()
	fmt.Printf("requests %d, connections %d, TLS handshakes %d, reuse ratio %.2f\n",
		st.Requests, st.Dials, st.TLSHandshakes, st.ReuseRatio())
	// Output:
	// HTTP/2.0
	// HTTP/2.0
	// HTTP/2.0
	// requests 3, connections 1, TLS handshakes 1, reuse ratio 0.67
}

// With HTTP3 set, the first response's Alt-Svc header teaches the client
// that the server speaks HTTP/3; the next request races a QUIC handshake
// against TCP and QUIC wins.
func ExampleHTTP3Options() {
	url, cert, _, stop := serveExample(protoHandler, nil)
	defer stop()

	client, err := httpx.NewClient(&httpx.Options{
		TLSConfig: cert.ClientTLS(),
		// The default RaceDelay is 300ms, like Chromium's; this example
		// gives QUIC longer so its output holds on a loaded machine.
		HTTP3: &httpx.HTTP3Options{RaceDelay: 5 * time.Second},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	for i := range 3 {
		resp, err := client.Get(url)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Printf("request %d: %s\n", i+1, resp.Proto)
	}
	h3 := client.Stats().H3
	fmt.Printf("races %d, won by QUIC %d\n", h3.Races, h3.QUICWon)
	// Output:
	// request 1: HTTP/2.0
	// request 2: HTTP/3.0
	// request 3: HTTP/3.0
	// races 1, won by QUIC 1
}

// A deploy: readiness turns 503 as soon as draining starts, requests are
// still served during the drain delay, then the server stops.
func ExampleServer_Shutdown() {
	mux := http.NewServeMux()
	mux.Handle("/", protoHandler)
	url, cert, srv, stop := serveExample(mux, &httpx.ServerOptions{DrainDelay: 100 * time.Millisecond})
	defer stop()
	mux.Handle("/readyz", srv.ReadyHandler())
	srv.OnDrain(func() { fmt.Println("drain hook: telling WebSocket clients to reconnect") })

	client, err := httpx.NewClient(&httpx.Options{TLSConfig: cert.ClientTLS()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	status := func(path string) int {
		resp, err := client.Get(url + path)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println("readyz:", status("readyz"))
	srv.StartDrain() // on SIGTERM
	fmt.Println("readyz:", status("readyz"))
	fmt.Println("request while draining:", status(""))
	fmt.Println("shutdown:", srv.Shutdown(context.Background()))
	// Output:
	// readyz: 200
	// drain hook: telling WebSocket clients to reconnect
	// readyz: 503
	// request while draining: 200
	// shutdown: <nil>
}

// A Resolver caches answers for their TTL: the second lookup sends no
// query.
func ExampleResolver() {
	dns, err := testenv.NewDNSServer() // a DNS server on loopback
	if err != nil {
		log.Fatal(err)
	}
	defer dns.Close()
	dns.Set("api.internal", testenv.DNSRecord{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.7")}, TTL: 60})

	r, err := httpx.NewResolver(&httpx.ResolverOptions{Servers: []string{dns.Addr}})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for range 2 {
		addrs, err := r.LookupNetIP(context.Background(), "ip4", "api.internal")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(addrs)
	}
	st := r.Stats()
	fmt.Printf("lookups %d, cache hits %d, queries %d\n", st.Lookups, st.CacheHits, st.Queries)
	// Output:
	// [10.0.0.7]
	// [10.0.0.7]
	// lookups 2, cache hits 1, queries 1
}

func ExampleParseAltSvc() {
	alts, clear, err := httpx.ParseAltSvc(`h3=":443"; ma=3600, h2="alt.example.com:8443"`)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range alts {
		fmt.Println(a.Protocol, a.Authority("example.com"), a.MaxAge)
	}
	fmt.Println("clear:", clear)
	// Output:
	// h3 example.com:443 1h0m0s
	// h2 alt.example.com:8443 24h0m0s
	// clear: false
}
