package devcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wirespeed/wirespeed/internal/devcert"
)

// The wrapper is the public development certificate under its old names.
func TestWrapsTheDevCert(t *testing.T) {
	c, err := devcert.New()
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf()
	if c.HashHex() != c.CertHashHex() || len(c.HashHex()) != 64 {
		t.Fatalf("HashHex %q, CertHashHex %q", c.HashHex(), c.CertHashHex())
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.Pool(), DNSName: "localhost"}); err != nil {
		t.Fatalf("Pool does not verify the certificate: %v", err)
	}
	if w := devcert.Wrap(c.DevCert); w.DevCert != c.DevCert {
		t.Fatal("Wrap made another certificate")
	}
}

func TestServesHTTP2OverLoopback(t *testing.T) {
	c, err := devcert.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1"
			if network == "tcp6" {
				host = "::1"
			}
			l, err := net.Listen(network, net.JoinHostPort(host, "0"))
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.Proto)
			}))
			srv.Listener.Close()
			srv.Listener = l
			srv.TLS = c.ServerTLS()
			srv.EnableHTTP2 = true
			srv.StartTLS()
			defer srv.Close()

			tr := &http.Transport{TLSClientConfig: c.ClientTLS(), ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
			if err != nil {
				t.Fatalf("GET %s: %v", srv.URL, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "HTTP/2.0" {
				t.Fatalf("served over %q, want HTTP/2.0", body)
			}
			if resp.TLS.Version != tls.VersionTLS13 {
				t.Fatalf("TLS version %x, want 1.3", resp.TLS.Version)
			}
		})
	}
}
