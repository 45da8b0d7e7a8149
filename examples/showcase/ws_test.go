package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/ws"
)

func TestWSDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cert, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	if err := setupWS(ctx, sc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sc.handler())
	defer srv.Close()
	defer sc.close()

	msgs := make(chan string, 256)
	cl, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/live", &ws.ClientOptions{
		OnMessage: func(_ websocket.MessageType, b []byte) {
			select {
			case msgs <- string(b):
			default: // the ticker keeps going; the test needs only a few
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, topic := range []string{"chat", "prices"} {
		if err := cl.Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Subscribe(ctx, "secret"); err == nil {
		t.Fatal("subscribed to a topic the demo does not allow")
	}
	if err := cl.Send(ctx, websocket.MessageText, []byte("hello room")); err != nil {
		t.Fatal(err)
	}
	var sawChat, sawPrice bool
	for !sawChat || !sawPrice {
		select {
		case m := <-msgs:
			var v struct {
				Chat string  `json:"chat"`
				Sym  string  `json:"sym"`
				P    float64 `json:"price"`
			}
			if err := json.Unmarshal([]byte(m), &v); err != nil {
				t.Fatalf("%q: %v", m, err)
			}
			sawChat = sawChat || strings.HasSuffix(v.Chat, ": hello room")
			sawPrice = sawPrice || (v.Sym != "" && v.P > 0)
		case <-ctx.Done():
			t.Fatalf("chat %v, price %v", sawChat, sawPrice)
		}
	}
	rec := httptest.NewRecorder()
	sc.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ws/stats", nil))
	var st struct {
		Conns  int `json:"conns"`
		Topics int `json:"topics"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Conns != 1 || st.Topics != 2 {
		t.Fatalf("stats %+v %v", st, err)
	}
}
