package sse_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/sse"
)

// get GETs url and returns the status and the body (at most 4 KiB, so a
// test never reads a stream to its end).
func get(t *testing.T, ctx context.Context, url string, hdr http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(b)
}

func topicQuery(names ...string) string {
	q := url.Values{"topic": names}
	return "/?" + q.Encode()
}

// TestDefaultTopicsPublicOnly: without a Topics hook the server serves
// only the topics declared public; any other topic is refused with a
// short body that does not echo the name, and a server with neither is
// refused by NewServer (TestNewServerInvalid).
func TestDefaultTopicsPublicOnly(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &sse.ServerOptions{PublicTopics: []string{"news", "prices"}})
	long := strings.Repeat("a", 64<<10)
	tests := []struct {
		name   string
		topics []string
		code   int
	}{
		{"public", []string{"news"}, 200},
		{"two public", []string{"news", "prices"}, 200},
		{"not public", []string{"admin"}, 403},
		{"one not public", []string{"news", "admin"}, 403},
		{"prefix of a public topic", []string{"new"}, 403},
		{"long name", []string{long}, 403},
		{"none", nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, ctx, s.srv.URL+topicQuery(tt.topics...), nil)
			if code != tt.code {
				t.Fatalf("status %d (%q), want %d", code, body, tt.code)
			}
			if code == 403 && body != "sse: topic not public\n" {
				t.Fatalf("body %q", body)
			}
		})
	}
	if st := s.sse.Stats(); st.RejectedTopics != 5 || st.Opened != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMaxTopics: a stream has at most MaxTopics distinct topics, whoever
// chose them; more get 400 before anything is subscribed, so one request
// cannot make thousands of topics and fan-out goroutines. Repeats count
// once.
func TestMaxTopics(t *testing.T) {
	ctx := testCtx(t)
	many := make([]string, 5000)
	for i := range many {
		many[i] = "j" + strconv.Itoa(i)
	}
	hook := func(r *http.Request) ([]string, error) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		return many[:n], nil
	}
	s := newServer(t, &sse.ServerOptions{Topics: hook})
	goroutines := runtime.NumGoroutine()
	tests := []struct {
		n    int
		code int
	}{
		{5000, 400},
		{17, 400},
		{16, 200},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			code, body := get(t, ctx, s.srv.URL+"/?n="+strconv.Itoa(tt.n), nil)
			if code != tt.code {
				t.Fatalf("status %d (%q), want %d", code, body, tt.code)
			}
			if code == 400 && (len(body) > 80 || !strings.Contains(body, "too many topics")) {
				t.Fatalf("body %q", body)
			}
		})
	}
	testWait(t, ctx, func() bool { return s.sse.Stats().Conns == 0 })
	if n := s.sse.Stats().Topics; n != 0 {
		t.Fatalf("%d topics left", n)
	}
	if n := runtime.NumGoroutine(); n > goroutines+50 {
		t.Fatalf("%d goroutines, %d before", n, goroutines)
	}

	// The default hook, and a smaller bound.
	pub := newServer(t, &sse.ServerOptions{PublicTopics: many[:20], MaxTopics: 2})
	for _, tt := range []struct {
		topics []string
		code   int
	}{
		{many[:3], 400},
		{many[:2], 200},
		{[]string{"j0", "j1", "j0", "j1", "j1"}, 200},
	} {
		if code, body := get(t, ctx, pub.srv.URL+topicQuery(tt.topics...), nil); code != tt.code {
			t.Fatalf("%v: status %d (%q), want %d", tt.topics, code, body, tt.code)
		}
	}
}

// TestRepeatedTopicOnce: a topic named several times, by the query or by
// a Topics hook, is one subscription: every event arrives once, live and
// on resume (a repeat once replayed the history once per repeat).
func TestRepeatedTopicOnce(t *testing.T) {
	repeats := make([]string, 40)
	for i := range repeats {
		repeats[i] = "news"
	}
	hook := func(*http.Request) ([]string, error) { return []string{"news", "news", "news"}, nil }
	for _, tc := range []struct {
		name string
		opt  *sse.ServerOptions
		path string
	}{
		{"query", &sse.ServerOptions{PublicTopics: []string{"news"}}, topicQuery(repeats...)},
		{"hook", &sse.ServerOptions{Topics: hook}, "/"},
	} {
		for _, resume := range []bool{false, true} {
			t.Run(tc.name+"/resume="+strconv.FormatBool(resume), func(t *testing.T) {
				ctx := testCtx(t)
				s := newServer(t, tc.opt)
				// A live stream keeps the topic's fan-out running.
				live := open(t, ctx, nil, s.srv.URL+tc.path, nil)
				s.waitJoined(t, ctx)
				ids := publish(t, ctx, s.sse, "news", "0", "1", "2", "3")
				for _, want := range ids {
					if ev := live.next(t); ev.ID != want {
						t.Fatalf("live: got %+v, want %s", ev, want)
					}
				}
				var want []string
				hdr := http.Header{}
				if resume {
					hdr.Set("Last-Event-ID", ids[0])
					want = ids[1:]
				}
				st := open(t, ctx, nil, s.srv.URL+tc.path, hdr)
				s.waitJoined(t, ctx)
				more := publish(t, ctx, s.sse, "news", "4", "5")
				for _, want := range append(want, more...) {
					if ev := st.next(t); ev.ID != want {
						t.Fatalf("got %+v, want %s", ev, want)
					}
				}
				if n := s.sse.Stats().Topics; n != 1 {
					t.Fatalf("%d topics", n)
				}
			})
		}
	}
}

// TestLastEventIDBounded: a Last-Event-ID (header or query) that is not a
// message ID, however long, is reported lost and never echoed: the lost
// event's data is empty, and the stream starts live.
func TestLastEventIDBounded(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, nil)
	const huge = 1<<20 - 512 // under net/http's default header limit
	tests := []struct {
		name, id string
	}{
		{"1 MB of text", strings.Repeat("x", huge)},
		{"1 MB of zeros before an ID", strings.Repeat("0", huge) + "1-0"},
		{"one byte over the longest ID", strings.Repeat("0", 22) + "-" + strings.Repeat("0", 19)},
		{"not an ID", "bogus"},
	}
	for _, tt := range tests {
		for _, via := range []string{"header", "query"} {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				url, hdr := s.url, http.Header{}
				if via == "header" {
					hdr.Set("Last-Event-ID", tt.id)
				} else {
					url += "&lastEventID=" + tt.id
				}
				st := open(t, ctx, nil, url, hdr)
				if from := s.waitJoined(t, ctx); from != "" {
					t.Fatalf("stream resumes from %d bytes, want a live start", len(from))
				}
				if st.resp.Header.Get(sse.HeaderLost) != "true" {
					t.Fatalf("no %s header", sse.HeaderLost)
				}
				if ev := st.next(t); ev.Type != "lost" || len(ev.Data) != 0 {
					t.Fatalf("first event %q with %d bytes of data, want an empty lost event", ev.Type, len(ev.Data))
				}
				if len(st.dec.LastEventID()) > 41 {
					t.Fatalf("stream set a %d-byte ID", len(st.dec.LastEventID()))
				}
			})
		}
	}
}
