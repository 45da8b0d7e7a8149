package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// failModes are the two ways a callback can fail to return.
var failModes = []string{"panic", "goexit"}

func fail(mode string) {
	if mode == "panic" {
		panic("callback failed")
	}
	runtime.Goexit()
}

// waitFor polls cond until it holds, failing when ctx ends first.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func echo(ctx context.Context, c *ws.Conn, typ websocket.MessageType, b []byte) {
	c.Send(ctx, typ, b)
}

// roundTrip sends msg on c and reads the echo.
func roundTrip(t *testing.T, ctx context.Context, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got := read(t, ctx, c); got != msg {
		t.Fatalf("read %q, want %q", got, msg)
	}
}

// A per-connection callback that panics or calls runtime.Goexit closes its
// connection with 1011, is counted, and frees the connection; the hub
// goes on serving.
func TestConnCallbackFailure(t *testing.T) {
	for _, cb := range []string{"OnConnect", "OnMessage", "AllowTopic"} {
		for _, mode := range failModes {
			t.Run(cb+"/"+mode, func(t *testing.T) {
				ctx := testCtx(t)
				var armed atomic.Bool
				armed.Store(true)
				failOnce := func(name string) {
					if cb == name && armed.CompareAndSwap(true, false) {
						fail(mode)
					}
				}
				s := newServer(t, &ws.HubOptions{
					ClientTopics: true,
					AllowTopic: func(*ws.Conn, string) bool {
						failOnce("AllowTopic")
						return true
					},
					OnConnect: func(context.Context, *ws.Conn) { failOnce("OnConnect") },
					OnMessage: func(ctx context.Context, c *ws.Conn, typ websocket.MessageType, b []byte) {
						failOnce("OnMessage")
						echo(ctx, c, typ, b)
					},
				})
				c := dial(t, ctx, s.url, nil)
				switch cb {
				case "OnMessage":
					c.Write(ctx, websocket.MessageText, []byte("boom"))
				case "AllowTopic":
					c.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","topic":"x"}`))
				}
				_, _, err := c.Read(ctx)
				if got := websocket.CloseStatus(err); got != websocket.StatusInternalError {
					t.Fatalf("Read: %v (close status %d), want close 1011", err, got)
				}
				if r := s.waitClosed(t, ctx); r != ws.ReasonCallbackPanic {
					t.Fatalf("close reason %q, want %q", r, ws.ReasonCallbackPanic)
				}
				st := s.hub.Stats()
				if st.CallbackPanics != 1 || st.Closed[ws.ReasonCallbackPanic] != 1 || st.Conns != 0 {
					t.Fatalf("Stats: CallbackPanics %d, Closed %v, Conns %d; want 1, callback-panic 1, 0",
						st.CallbackPanics, st.Closed, st.Conns)
				}

				// A fresh connection works, topics included.
				c2 := dial(t, ctx, s.url, nil)
				c2.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","topic":"x"}`))
				var m ws.Control
				if err := json.Unmarshal([]byte(read(t, ctx, c2)), &m); err != nil || m.Op != ws.OpSubscribed {
					t.Fatalf("subscribe reply %+v (%v), want subscribed", m, err)
				}
				roundTrip(t, ctx, c2, "hello")
				c2.Close(websocket.StatusNormalClosure, "")
				if r := s.waitClosed(t, ctx); r != ws.ReasonClient {
					t.Fatalf("fresh connection closed with %q, want %q", r, ws.ReasonClient)
				}
				if st := s.hub.Stats(); st.CallbackPanics != 1 || st.Conns != 0 {
					t.Fatalf("Stats after: CallbackPanics %d, Conns %d; want 1, 0", st.CallbackPanics, st.Conns)
				}
			})
		}
	}
}

// OnClose that panics or calls runtime.Goexit is counted and does not
// stop the connection from ending: Shutdown still joins it.
func TestOnCloseFailure(t *testing.T) {
	for _, mode := range failModes {
		t.Run(mode, func(t *testing.T) {
			ctx := testCtx(t)
			closed := make(chan ws.CloseReason, 4)
			s := newServer(t, &ws.HubOptions{
				OnMessage: echo,
				OnClose: func(_ *ws.Conn, r ws.CloseReason) {
					closed <- r
					fail(mode)
				},
			})
			c := dial(t, ctx, s.url, nil)
			roundTrip(t, ctx, c, "hello")
			c.Close(websocket.StatusNormalClosure, "")
			select {
			case <-closed:
			case <-ctx.Done():
				t.Fatal("OnClose never ran")
			}
			waitFor(t, ctx, "OnClose counted", func() bool { return s.hub.Stats().CallbackPanics == 1 })

			c2 := dial(t, ctx, s.url, nil)
			roundTrip(t, ctx, c2, "again")
			c2.CloseRead(ctx) // answers the hub's close frame
			// Shutdown waits for every connection's end, past OnClose.
			if err := s.hub.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if st := s.hub.Stats(); st.CallbackPanics != 2 || st.Conns != 0 {
				t.Fatalf("Stats: CallbackPanics %d, Conns %d; want 2, 0", st.CallbackPanics, st.Conns)
			}
		})
	}
}

// TopicKey that panics or calls runtime.Goexit is counted, the message is
// delivered with no key, and the topic's fan-out goes on in order.
func TestTopicKeyFailure(t *testing.T) {
	for _, mode := range failModes {
		t.Run(mode, func(t *testing.T) {
			ctx := testCtx(t)
			s := newServer(t, &ws.HubOptions{
				TopicPolicy: map[string]ws.Policy{"news": ws.CoalesceByKey},
				TopicKey: func(_ string, data []byte) string {
					if string(data) == "boom" {
						fail(mode)
					}
					return string(data)
				},
			})
			c := dial(t, ctx, s.url, nil)
			s.waitJoined(t, ctx)
			msgs := []string{"a1", "boom", "a2", "boom", "a3"}
			for _, m := range msgs {
				if _, err := s.hub.Publish(ctx, "news", []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range msgs {
				if got := read(t, ctx, c); got != want {
					t.Fatalf("read %q, want %q", got, want)
				}
			}
			if st := s.hub.Stats(); st.CallbackPanics != 2 {
				t.Fatalf("CallbackPanics %d, want 2", st.CallbackPanics)
			}

			c2 := dial(t, ctx, s.url, nil)
			s.waitJoined(t, ctx)
			s.hub.Publish(ctx, "news", []byte("later"))
			for _, cc := range []*websocket.Conn{c, c2} {
				if got := read(t, ctx, cc); got != "later" {
					t.Fatalf("read %q, want later", got)
				}
			}
		})
	}
}

// ClientIP that panics or calls runtime.Goexit answers that request with
// 500, is counted, and holds nothing; the next request is served.
func TestClientIPFailure(t *testing.T) {
	for _, mode := range failModes {
		t.Run(mode, func(t *testing.T) {
			ctx := testCtx(t)
			s := newServer(t, &ws.HubOptions{
				MaxConnsPerIP: 1,
				ClientIP: func(r *http.Request) string {
					if r.Header.Get("X-Fail") != "" {
						fail(mode)
					}
					return "192.0.2.1"
				},
			})
			for range 2 { // a held reservation would refuse the second with 503
				_, resp, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{HTTPHeader: http.Header{"X-Fail": {"1"}}})
				if err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
					code := 0
					if resp != nil {
						code = resp.StatusCode
					}
					t.Fatalf("Dial: %v, status %d; want 500", err, code)
				}
			}
			if st := s.hub.Stats(); st.CallbackPanics != 2 || st.Conns != 0 || st.RejectedLimit != 0 {
				t.Fatalf("Stats: CallbackPanics %d, Conns %d, RejectedLimit %d; want 2, 0, 0", st.CallbackPanics, st.Conns, st.RejectedLimit)
			}
			dial(t, ctx, s.url, nil)
			if c := s.waitJoined(t, ctx); c.RemoteIP() != "192.0.2.1" {
				t.Fatalf("RemoteIP %q", c.RemoteIP())
			}
		})
	}
}

// A Client callback that panics or calls runtime.Goexit is reported to
// OnError (unless it is OnError) and the client goes on.
func TestClientCallbackFailure(t *testing.T) {
	for _, cb := range []string{"OnMessage", "OnState", "OnError"} {
		for _, mode := range failModes {
			t.Run(cb+"/"+mode, func(t *testing.T) {
				ctx := testCtx(t)
				s := newServer(t, &ws.HubOptions{OnMessage: echo})
				msgs := make(chan string, 16)
				states := make(chan ws.State, 16)
				errs := make(chan error, 16)
				var armed atomic.Bool
				armed.Store(true)
				cl, err := ws.Dial(ctx, s.url, &ws.ClientOptions{
					MinBackoff: 5 * time.Millisecond,
					MaxBackoff: 50 * time.Millisecond,
					OnMessage: func(_ websocket.MessageType, b []byte) {
						if cb != "OnState" && string(b) == "boom" {
							fail(mode)
						}
						msgs <- string(b)
					},
					OnState: func(st ws.State) {
						if cb == "OnState" && st == ws.StateConnecting && armed.CompareAndSwap(true, false) {
							fail(mode)
						}
						states <- st
					},
					OnError: func(err error) {
						if cb == "OnError" {
							fail(mode)
						}
						errs <- err
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				if st := <-states; st != ws.StateConnected { // Dial's
					t.Fatalf("state %v, want connected", st)
				}
				conn := s.waitJoined(t, ctx)
				if cb == "OnState" {
					conn.Close(websocket.StatusGoingAway, "reconnect") // OnState(StateConnecting) fails
				} else if err := cl.Send(ctx, websocket.MessageText, []byte("boom")); err != nil {
					t.Fatal(err)
				}
				if cb != "OnError" {
					select {
					case err := <-errs:
						var pe *ws.PanicError
						if !errors.As(err, &pe) || pe.Callback != cb || pe.Goexit != (mode == "goexit") {
							t.Fatalf("OnError got %v, want a *PanicError for %s (%s)", err, cb, mode)
						}
					case <-ctx.Done():
						t.Fatal("the failure was not reported to OnError")
					}
				}
				if cb == "OnState" { // it reconnects all the same
					for st := ws.StateClosed; st != ws.StateConnected; {
						select {
						case st = <-states:
						case <-ctx.Done():
							t.Fatal("never reconnected")
						}
					}
				}
				// The client goes on: messages flow.
				if err := cl.Send(ctx, websocket.MessageText, []byte("ok")); err != nil {
					t.Fatal(err)
				}
				select {
				case m := <-msgs:
					if m != "ok" {
						t.Fatalf("OnMessage got %q, want ok", m)
					}
				case <-ctx.Done():
					t.Fatal("no message after the failure")
				}
				if err := cl.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				select {
				case err := <-errs:
					t.Fatalf("unexpected OnError: %v", err)
				default:
				}
			})
		}
	}
}

// OnState panicking for Dial's first StateConnected, on Dial's caller, is
// recovered and reported too; the client is usable.
func TestClientDialOnStatePanic(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{OnMessage: echo})
	errs := make(chan error, 4)
	msgs := make(chan string, 4)
	var armed atomic.Bool
	armed.Store(true)
	cl, err := ws.Dial(ctx, s.url, &ws.ClientOptions{
		OnState: func(ws.State) {
			if armed.CompareAndSwap(true, false) {
				panic("callback failed")
			}
		},
		OnMessage: func(_ websocket.MessageType, b []byte) { msgs <- string(b) },
		OnError:   func(err error) { errs <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var pe *ws.PanicError
	if err := <-errs; !errors.As(err, &pe) || pe.Callback != "OnState" || pe.Value != "callback failed" {
		t.Fatalf("OnError got %v, want the OnState panic", err)
	}
	if err := cl.Send(ctx, websocket.MessageText, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if m := <-msgs; m != "ok" {
		t.Fatalf("got %q", m)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
}
