package sse_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/pubsub/redis"
	"github.com/wirespeed/wirespeed/sse"
)

const faultEvents = 10000

// publishAll publishes faultEvents messages "0", "1", … on its own
// goroutine, pacing itself a little so the run overlaps the restarts.
func publishAll(ctx context.Context, b pubsub.Broker, errs chan<- error) {
	for i := range faultEvents {
		if _, err := b.Publish(ctx, "feed", []byte(strconv.Itoa(i))); err != nil {
			errs <- err
			return
		}
		if i%100 == 99 {
			time.Sleep(time.Millisecond) // pacing
		}
	}
	errs <- nil
}

// consume reads the client until every event arrived, checking that each
// arrives exactly once, in order, and calling restart after each quarter.
func consume(t *testing.T, ctx context.Context, sub *sse.Subscription, restart func(n int)) {
	t.Helper()
	last := ""
	for n := range faultEvents {
		if n > 0 && n%(faultEvents/4) == 0 {
			restart(n / (faultEvents / 4))
		}
		var ev sse.Event
		select {
		case ev = <-sub.C:
		case <-ctx.Done():
			t.Fatalf("got %d of %d events; client %+v", n, faultEvents, sub.Client.Stats())
		}
		if string(ev.Data) != strconv.Itoa(n) {
			t.Fatalf("event %d is %q (id %s after %s)", n, ev.Data, ev.ID, last)
		}
		if last != "" && pubsub.CompareIDs(ev.ID, last) <= 0 {
			t.Fatalf("id %s not after %s", ev.ID, last)
		}
		last = ev.ID
	}
}

func fastClient(t *testing.T, ctx context.Context, url string) *sse.Subscription {
	sub, err := sse.Subscribe(ctx, url, &sse.ClientOptions{Retry: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

// TestFaultsMemoryRestarts restarts the SSE server three times (twice
// gracefully, once abruptly) while 10k events are published to a memory
// broker that outlives it; the client resumes within retention.
func TestFaultsMemoryRestarts(t *testing.T) {
	ctx := testCtx(t)
	b, err := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: 2 * faultEvents, MaxBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f := testenv.StartFront[*sse.Server](t, "/?topic=feed")
	start := func() *sse.Server {
		s, err := sse.NewServer(&sse.ServerOptions{Broker: b, PublicTopics: []string{"feed"}, ShutdownWindow: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		f.Set(s)
		return s
	}
	start()
	defer func() { f.Current().Close() }()
	sub := fastClient(t, ctx, f.URL)
	testWait(t, ctx, func() bool { return sub.Client.Stats().Connects == 1 })
	errs := make(chan error, 1)
	go publishAll(ctx, b, errs)
	consume(t, ctx, sub, func(n int) {
		old := f.Current()
		f.Clear()
		if n == 2 {
			old.Close()
		} else if err := old.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		start()
	})
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if st := sub.Client.Stats(); st.Connects < 4 || st.LostReports != 0 {
		t.Fatalf("client stats %+v", st)
	}
}

// TestFaultsRedis: two server instances on one Redis; the client is moved
// from one to the other and back (the first one restarted in between)
// while 10k events are published through Redis.
func TestFaultsRedis(t *testing.T) {
	ctx := testCtx(t)
	rs := testenv.StartRedis(t)
	newBroker := func() *redis.Broker {
		client := goredis.NewClient(&goredis.Options{Addr: rs.Addr, DialTimeout: time.Second})
		b, err := redis.New(client, &redis.Options{MaxLen: 2 * faultEvents, Block: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close(); client.Close() })
		return b
	}
	f := testenv.StartFront[*sse.Server](t, "/?topic=feed")
	start := func() *sse.Server {
		s, err := sse.NewServer(&sse.ServerOptions{Broker: newBroker(), PublicTopics: []string{"feed"}, ShutdownWindow: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, other := start(), start()
	f.Set(a)
	sub := fastClient(t, ctx, f.URL)
	testWait(t, ctx, func() bool { return sub.Client.Stats().Connects == 1 })
	errs := make(chan error, 1)
	go publishAll(ctx, newBroker(), errs)
	consume(t, ctx, sub, func(n int) {
		old := f.Current()
		f.Set(other)
		if err := old.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		other = start() // the stopped instance comes back
	})
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if st := sub.Client.Stats(); st.Connects < 4 || st.LostReports != 0 {
		t.Fatalf("client stats %+v", st)
	}
}

// TestRedisRestart: a Redis restart loses the stream (persistence is off
// in tests): the client resuming from an ID Redis no longer has is told
// that events were lost, as the pubsub docs promise, and then gets the new
// events.
func TestRedisRestart(t *testing.T) {
	ctx := testCtx(t)
	rs := testenv.StartRedis(t)
	client := goredis.NewClient(&goredis.Options{Addr: rs.Addr, DialTimeout: time.Second})
	b, err := redis.New(client, &redis.Options{Block: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	defer b.Close()
	srv, err := sse.NewServer(&sse.ServerOptions{Broker: b, PublicTopics: []string{"news"}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ids := publish(t, ctx, srv, "news", "a", "b")
	rs.Restart()
	var resp *http.Response
	testWait(t, ctx, func() bool {
		req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/?topic=news", nil)
		req.Header.Set("Last-Event-ID", ids[0])
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		if r.StatusCode != 200 {
			r.Body.Close()
			return false
		}
		resp = r
		return true
	})
	defer resp.Body.Close()
	if resp.Header.Get(sse.HeaderLost) != "true" {
		t.Fatalf("no %s after the stream was lost", sse.HeaderLost)
	}
	dec := sse.NewDecoder(resp.Body, 0)
	if ev, err := dec.Next(); err != nil || ev.Type != "lost" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if _, err := srv.Publish(ctx, "news", []byte("after")); err == nil || errors.Is(err, sse.ErrServerClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // pacing while Redis comes back
		}
	})
	ev, err := dec.Next()
	wg.Wait()
	if err != nil || string(ev.Data) != "after" {
		t.Fatalf("after restart %+v, %v", ev, err)
	}
}
