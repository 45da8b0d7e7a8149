package ws_test

import (
	"encoding/json"
	"testing"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// FuzzControl feeds arbitrary client and server messages to the control
// protocol's parsers: no panics, and whatever they accept is a control
// message that survives a round trip.
func FuzzControl(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","topic":"news"}`, `{"op":"unsubscribe","topic":"a"}`,
		`{"op":"subscribed","topic":"t"}`, `{"op":"error","topic":"t","error":"no"}`,
		`{"op":1}`, `{"chat":"hi"}`, ` {"op":"subscribe"`, `null`, "\xff{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, ok := ws.ParseClientControl(data); ok {
			if m.Op != ws.OpSubscribe && m.Op != ws.OpUnsubscribe {
				t.Fatalf("accepted op %q", m.Op)
			}
			b, _ := json.Marshal(m)
			if again, ok := ws.ParseClientControl(b); !ok || again != m {
				t.Fatalf("round trip %q → %+v", b, again)
			}
		}
		if m, ok := ws.ParseServerControl(websocket.MessageText, data); ok {
			switch m.Op {
			case ws.OpSubscribed, ws.OpUnsubscribed, ws.OpError:
			default:
				t.Fatalf("accepted op %q", m.Op)
			}
			if m.Topic == "" {
				t.Fatal("accepted a reply without a topic")
			}
		}
		if _, ok := ws.ParseServerControl(websocket.MessageBinary, data); ok {
			t.Fatal("accepted a binary message")
		}
	})
}
