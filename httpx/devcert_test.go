package httpx_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

func TestDevCertShapeAndHashes(t *testing.T) {
	dev, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	leaf := dev.Leaf()
	key, ok := dev.Certificate().PrivateKey.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Fatalf("private key is %T, want ECDSA P-256", dev.Certificate().PrivateKey)
	}
	// Chromium refuses serverCertificateHashes for a certificate valid 15
	// days; it allows 14.
	if v := leaf.NotAfter.Sub(leaf.NotBefore); v > 14*24*time.Hour {
		t.Errorf("validity %v, want at most 14 days", v)
	}
	if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		t.Errorf("not valid now: %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: dev.CertPool(), DNSName: host}); err != nil {
			t.Errorf("verify for %s with CertPool: %v", host, err)
		}
	}
	if err := leaf.VerifyHostname("example.com"); err == nil {
		t.Error("the certificate covers example.com")
	}

	// The hashes, computed here from the key and the DER bytes with
	// crypto/x509 and crypto/sha256, not from the certificate's fields.
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	spkiSum := sha256.Sum256(spki)
	if want := base64.StdEncoding.EncodeToString(spkiSum[:]); dev.SPKIHash() != want {
		t.Errorf("SPKIHash %q, want %q", dev.SPKIHash(), want)
	}
	blk, rest := pem.Decode(dev.CertPEM())
	if blk == nil || blk.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("CertPEM is not one PEM certificate: %q", dev.CertPEM())
	}
	parsed, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !parsed.Equal(leaf) {
		t.Error("CertPEM holds another certificate")
	}
	derSum := sha256.Sum256(dev.Certificate().Certificate[0])
	if dev.CertHash() != derSum || dev.CertHash() != sha256.Sum256(blk.Bytes) {
		t.Errorf("CertHash %x, want the SHA-256 of the DER certificate %x", dev.CertHash(), derSum)
	}
	if dev.CertHashHex() != hex.EncodeToString(derSum[:]) {
		t.Errorf("CertHashHex %s, want %x", dev.CertHashHex(), derSum)
	}

	other, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	if other.CertHash() == dev.CertHash() || other.SPKIHash() == dev.SPKIHash() {
		t.Error("two development certificates share a key or a hash")
	}
	// Each call returns a config of its own.
	a, b := dev.ServerTLS(), dev.ServerTLS()
	a.NextProtos[0] = "changed"
	if b.NextProtos[0] != "h2" {
		t.Error("ServerTLS configs share NextProtos")
	}
}

// A Server with the development certificate serves HTTP/1.1, HTTP/2 and
// HTTP/3 to httpx clients that trust it, by IP address and by name.
func TestDevCertServesEveryProtocol(t *testing.T) {
	dev, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, hello, &httpx.ServerOptions{TLSConfig: dev.ServerTLS()}, true, false)
	ctx := testCtx(t)
	byName := "https://localhost:" + strconv.Itoa(srv.Port) + "/"

	h1 := newClient(t, &httpx.Options{TLSConfig: dev.ClientTLS(), DisableHTTP2: true})
	h2 := newClient(t, &httpx.Options{TLSConfig: dev.ClientTLS()})
	for _, tc := range []struct {
		client *http.Client
		url    string
		want   string
	}{
		{h1.Client, srv.URL, "HTTP/1.1"},
		{h2.Client, srv.URL, "HTTP/2.0"},
		{h2.Client, byName, "HTTP/2.0"},
	} {
		resp, body := get(t, ctx, tc.client, tc.url)
		if body != tc.want || resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || !resp.TLS.PeerCertificates[0].Equal(dev.Leaf()) {
			t.Errorf("GET %s: served over %q, want %s with the development certificate", tc.url, body, tc.want)
		}
	}

	// HTTP/3: the first response's Alt-Svc teaches the client, the next
	// requests race QUIC, which has seconds to win.
	h3 := newClient(t, &httpx.Options{TLSConfig: dev.ClientTLS(), HTTP3: &httpx.HTTP3Options{RaceDelay: 10 * time.Second}})
	testenv.WaitFor(t, 30*time.Second, "a request over HTTP/3", func() bool {
		_, body := get(t, ctx, h3.Client, srv.URL)
		return body == "HTTP/3.0"
	})
	if st := srv.Stats(); st.HTTP1 < 1 || st.HTTP2 < 2 || st.HTTP3 < 1 {
		t.Errorf("server stats %+v, want every protocol served", st)
	}
}
