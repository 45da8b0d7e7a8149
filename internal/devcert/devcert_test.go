package devcert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/devcert"
)

func TestCertificateShape(t *testing.T) {
	c, err := devcert.New()
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := c.Leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("public key is %T, want ECDSA P-256", c.Leaf.PublicKey)
	}
	if v := c.Leaf.NotAfter.Sub(c.Leaf.NotBefore); v >= 14*24*time.Hour {
		t.Fatalf("validity %v, want < 14 days for serverCertificateHashes", v)
	}
	if now := time.Now(); now.Before(c.Leaf.NotBefore) || now.After(c.Leaf.NotAfter) {
		t.Fatalf("certificate not valid now: %v..%v", c.Leaf.NotBefore, c.Leaf.NotAfter)
	}
	if c.Hash != sha256.Sum256(c.Leaf.Raw) {
		t.Fatal("Hash is not the SHA-256 of the DER certificate")
	}
	if len(c.HashHex()) != 64 {
		t.Fatalf("HashHex = %q", c.HashHex())
	}
	for _, h := range devcert.Hosts {
		if err := c.Leaf.VerifyHostname(h); err != nil {
			t.Errorf("VerifyHostname(%s): %v", h, err)
		}
	}
	blk, _ := pem.Decode(c.CertPEM())
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatal("CertPEM is not a PEM certificate")
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		t.Fatalf("CertPEM: %v", err)
	}
	other, err := devcert.New()
	if err != nil {
		t.Fatal(err)
	}
	if other.Hash == c.Hash {
		t.Fatal("two certificates share a hash")
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
