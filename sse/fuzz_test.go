package sse_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/sse"
)

// FuzzRoundTrip encodes an event and parses it back: the parser must see
// exactly one event with the same fields, whatever the payload holds, so
// no payload can inject a field or split an event.
func FuzzRoundTrip(f *testing.F) {
	f.Add("1-0", "tick", []byte("hello"), int64(0))
	f.Add("", "", []byte("a\r\nb\rc\nd\n"), int64(1500))
	f.Add("x", "y", []byte("\n\nid: 9\nevent: z\n\ndata: q"), int64(1))
	f.Add("\uFEFF", ":", []byte(":comment\r\r\n"), int64(0))
	f.Fuzz(func(t *testing.T, id, typ string, data []byte, retryMS int64) {
		retryMS %= 1e9 // keep time.Duration from overflowing
		ev := sse.Event{ID: id, Type: typ, Data: data, Retry: time.Duration(retryMS) * time.Millisecond}
		if ev.Data == nil {
			ev.Data = []byte{}
		}
		b, err := sse.AppendEvent(nil, ev)
		if err != nil {
			if sse.ValidID(id) && !strings.ContainsAny(typ, "\r\n") {
				t.Fatalf("valid event refused: %v", err)
			}
			return
		}
		// A preceding event keeps the BOM rule out of the way.
		stream := append([]byte("data: first\n\n"), b...)
		d := sse.NewDecoder(bytes.NewReader(stream), len(stream)+1)
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
		got, err := d.Next()
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		want := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		want = bytes.ReplaceAll(want, []byte("\r"), []byte("\n"))
		if got.ID != id || got.Type != typ || !bytes.Equal(got.Data, want) {
			t.Fatalf("%q parsed as %+v", b, got)
		}
		if wantRetry := time.Duration(max(retryMS, 1)) * time.Millisecond; retryMS > 0 && got.Retry != wantRetry {
			t.Fatalf("retry %v, want %v", got.Retry, wantRetry)
		}
		if _, err := d.Next(); err != io.EOF {
			t.Fatalf("second event from %q: %v", b, err)
		}
	})
}

// FuzzDecoder feeds arbitrary streams to the parser: it must not panic,
// must respect its size bound and must end at EOF.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("data: x\n\n"))
	f.Add([]byte("\uFEFFid: 1\r\nretry: 10\r\rdata\ndata:\n\n:c\n"))
	f.Add([]byte("event:\x00\ndata:\xff\xfe\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		d := sse.NewDecoder(bytes.NewReader(stream), 256)
		for range len(stream) + 1 {
			ev, err := d.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > 256 || strings.ContainsAny(ev.Type, "\r\n") || !sse.ValidID(ev.ID) {
				t.Fatalf("bad event %+v", ev)
			}
		}
		t.Fatal("more events than bytes")
	})
}
