package sse_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/sse"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   sse.Event
		want string
		err  error
	}{
		{"data only", sse.Event{Data: []byte("hi")}, "data: hi\n\n", nil},
		{"all fields", sse.Event{ID: "1-0", Type: "tick", Data: []byte("x"), Retry: 1500 * time.Millisecond}, "event: tick\ndata: x\nid: 1-0\nretry: 1500\n\n", nil},
		{"LF splits", sse.Event{Data: []byte("a\nb")}, "data: a\ndata: b\n\n", nil},
		{"CR splits", sse.Event{Data: []byte("a\rb")}, "data: a\ndata: b\n\n", nil},
		{"CRLF splits once", sse.Event{Data: []byte("a\r\nb")}, "data: a\ndata: b\n\n", nil},
		{"injection stays data", sse.Event{Data: []byte("x\nid: evil\nevent: pwn\n\ndata: y")}, "data: x\ndata: id: evil\ndata: event: pwn\ndata: \ndata: data: y\n\n", nil},
		{"trailing newline", sse.Event{Data: []byte("a\n")}, "data: a\ndata: \n\n", nil},
		{"empty data", sse.Event{Data: []byte{}}, "data: \n\n", nil},
		{"retry only", sse.Event{Retry: time.Second}, "retry: 1000\n\n", nil},
		{"id with LF", sse.Event{ID: "1\n2", Data: []byte("x")}, "", sse.ErrInvalidField},
		{"id with NUL", sse.Event{ID: "1\x00", Data: []byte("x")}, "", sse.ErrInvalidField},
		{"type with CR", sse.Event{Type: "a\rb", Data: []byte("x")}, "", sse.ErrInvalidField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sse.AppendEvent(nil, tt.ev)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	if got := string(sse.AppendComment(nil, "a\r\nb")); got != ": a\n: b\n\n" {
		t.Fatalf("got %q", got)
	}
	if got := string(sse.AppendComment(nil, "")); got != ":\n\n" {
		t.Fatalf("got %q", got)
	}
}

// TestDecoder follows the WHATWG examples and edge cases of the event
// stream interpretation.
func TestDecoder(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []sse.Event
		lastID string
	}{
		{"two data lines", "data: YHOO\ndata: +2\ndata: 10\n\n", []sse.Event{{Data: []byte("YHOO\n+2\n10")}}, ""},
		{"comment and ids", ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
			[]sse.Event{{ID: "1", Data: []byte("first event")}, {Data: []byte("second event")}, {Data: []byte(" third event")}}, ""},
		{"empty data dispatches", "data\n\ndata\ndata\n\ndata:", []sse.Event{{Data: []byte("")}, {Data: []byte("\n")}}, ""},
		{"colon spacing", "data:test\n\ndata: test\n\n", []sse.Event{{Data: []byte("test")}, {Data: []byte("test")}}, ""},
		{"CR and CRLF endings", "event: a\rdata: 1\r\n\rdata: 2\r\rid: 7\r\n\r\n",
			[]sse.Event{{Type: "a", Data: []byte("1")}, {Data: []byte("2")}}, "7"},
		{"BOM skipped once", "\uFEFFdata: x\n\n\uFEFFdata: y\n\n", []sse.Event{{Data: []byte("x")}}, ""},
		{"id with NUL ignored", "id: 5\n\nid: 6\x00\ndata: x\n\n", []sse.Event{{ID: "5", Data: []byte("x")}}, "5"},
		{"retry digits only", "retry: 12a\ndata: x\n\nretry: 250\ndata: y\n\n", []sse.Event{{Data: []byte("x")}, {Data: []byte("y"), Retry: 250 * time.Millisecond}}, ""},
		{"no data no dispatch", "event: ping\n\ndata: x\n\n", []sse.Event{{Data: []byte("x")}}, ""},
		{"unknown field ignored", "foo: bar\ndata: x\n\n", []sse.Event{{Data: []byte("x")}}, ""},
		{"partial event discarded", "data: x\n\ndata: y\n", []sse.Event{{Data: []byte("x")}}, ""},
		{"id of a cut-off block does not count", "id: 1\ndata: x\n\nid: 2\ndata: y\n", []sse.Event{{ID: "1", Data: []byte("x")}}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Feed one byte at a time too, so line endings split across reads.
			for _, r := range []io.Reader{strings.NewReader(tt.stream), &oneByte{s: tt.stream}} {
				d := sse.NewDecoder(r, 0)
				var got []sse.Event
				for {
					ev, err := d.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, ev)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d events %q, want %d", len(got), got, len(tt.want))
				}
				for i := range got {
					if got[i].ID != tt.want[i].ID || got[i].Type != tt.want[i].Type || string(got[i].Data) != string(tt.want[i].Data) || got[i].Retry != tt.want[i].Retry {
						t.Errorf("event %d = %+v, want %+v", i, got[i], tt.want[i])
					}
				}
				if tt.lastID != "" && d.LastEventID() != tt.lastID {
					t.Errorf("LastEventID = %q, want %q", d.LastEventID(), tt.lastID)
				}
			}
		})
	}
}

type oneByte struct {
	s string
	i int
}

func (r *oneByte) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	p[0] = r.s[r.i]
	r.i++
	return 1, nil
}

func TestDecoderLimit(t *testing.T) {
	d := sse.NewDecoder(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 50)
	if _, err := d.Next(); !errors.Is(err, sse.ErrEventTooLarge) {
		t.Fatalf("err = %v", err)
	}
	d = sse.NewDecoder(strings.NewReader(strings.Repeat("data: xxxxxxxxxx\n", 10)+"\n"), 50)
	if _, err := d.Next(); !errors.Is(err, sse.ErrEventTooLarge) {
		t.Fatalf("err = %v", err)
	}
}
