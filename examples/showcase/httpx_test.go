package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// checkHTTP3 fetches the page at base over HTTP/3 with quic-go's client,
// at the port the TCP response advertised in altSvc, trusting only the
// certificate the TCP connection presented (der).
func checkHTTP3(t *testing.T, base, altSvc string, der []byte) {
	t.Helper()
	if !strings.HasPrefix(altSvc, `h3=":`) {
		t.Fatalf("HTTPS response Alt-Svc %q, want an h3 alternative", altSvc)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET %s over HTTP/3: %v", base, err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/3.0" {
		t.Fatalf("GET %s: %s over %s, want 200 over HTTP/3.0", base, resp.Status, resp.Proto)
	}
	if !strings.Contains(string(page), "This page came over <code>HTTP/3.0</code>") {
		t.Error("the page served over HTTP/3 does not say so")
	}
}

// checkHTTPXStats checks the httpx demo's part of /debug/stats.
func checkHTTPXStats(t *testing.T, raw json.RawMessage) {
	t.Helper()
	var st struct {
		Served map[string]struct{ HTTP1, HTTP2, HTTP3 int64 } `json:"served"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("httpx stats %s: %v", raw, err)
	}
	if s := st.Served["https"]; s.HTTP2 < 1 || s.HTTP3 < 1 {
		t.Errorf("https server counts %+v, want the test's HTTP/2 and HTTP/3 requests", s)
	}
}

// TestHTTPXDemo runs the demo on its own: the internal client moves to
// HTTP/3, and a new client per request pays a handshake each.
func TestHTTPXDemo(t *testing.T) {
	cert, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	defer sc.close()
	if err := setupHTTPX(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sc.handler())
	defer ts.Close()

	var fetch struct {
		Requests   int            `json:"requests"`
		Failed     int            `json:"failed"`
		ByProtocol map[string]int `json:"by_protocol"`
	}
	getJSON(t, ts.Client(), ts.URL+"/httpx/fetch?n=1", &fetch) // learns Alt-Svc
	fetches := 1
	// The next requests race QUIC against TCP (300ms head start): on a
	// loaded machine TCP may win a race, so try a few batches.
	testenv.WaitFor(t, 30*time.Second, "requests over HTTP/3", func() bool {
		getJSON(t, ts.Client(), ts.URL+"/httpx/fetch?n=10", &fetch)
		fetches += 10
		if fetch.Requests != 10 || fetch.Failed != 0 {
			t.Fatalf("fetch = %+v, want 10 requests, none failed", fetch)
		}
		return fetch.ByProtocol["HTTP/3.0"] > 0
	})
	var fresh struct {
		Requests   int   `json:"requests"`
		Handshakes int64 `json:"new_client_handshakes"`
	}
	getJSON(t, ts.Client(), ts.URL+"/httpx/new-clients?n=5", &fresh)
	if fresh.Requests != 5 || fresh.Handshakes != 5 {
		t.Errorf("new-clients = %+v, want a handshake per request", fresh)
	}
	resp, err := ts.Client().Get(ts.URL + "/httpx/fetch?n=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("fetch?n=0: %s, want 400", resp.Status)
	}

	var st httpxStats
	b, _ := json.Marshal(sc.demos[len(sc.demos)-1].Stats())
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Client.Requests != int64(fetches+5) || st.Client.HTTP3 < 1 || st.Client.ReuseRatio <= 0 {
		t.Errorf("client stats %+v", st.Client)
	}
	if b := st.Served["demo-backend"]; b.HTTP3 < 1 || b.HTTP2 < 1 {
		t.Errorf("backend stats %+v", b)
	}
}
