// Package sse serves and reads Server-Sent Events (text/event-stream):
// correct framing, resumption from Last-Event-ID over a pubsub.Broker's
// history, per-connection bounded queues, heartbeats, connection limits,
// graceful shutdown, and a Go client that reconnects and resumes.
//
// # Quick start
//
//	srv, err := sse.NewServer(&sse.ServerOptions{
//		Topics: func(r *http.Request) ([]string, error) {
//			if !authorized(r) {
//				return nil, &sse.StatusError{Code: http.StatusUnauthorized}
//			}
//			return []string{"prices"}, nil
//		},
//	})
//	defer srv.Close()
//	mux.Handle("GET /events", srv)
//	httpServer, err := httpx.NewServer(mux, nil) // or an *http.Server
//	srv.RegisterOnShutdown(httpServer, 10*time.Second)
//	go httpServer.Serve(l, nil) // l: a net.Listener
//	srv.Publish(ctx, "prices", []byte(`{"BTC":100}`)) // from anywhere
//	httpServer.Shutdown(ctx) // on SIGTERM: the drain ends the streams
//
// and in a Go service that consumes a stream:
//
//	c, _ := sse.NewClient("https://api.example.com/events", nil)
//	for ev, err := range c.Events(ctx) { … }
//
// RegisterOnShutdown takes anything with RegisterOnShutdown(func()):
// httpx.Server runs the hook when its drain starts (while the readiness
// endpoint answers 503 and a load balancer still sends traffic), so new
// streams get 503 and clients reconnect to another instance; an
// *http.Server runs it from its Shutdown.
//
// A feed anyone may read needs no hook: PublicTopics: []string{"prices"}
// serves GET /events?topic=prices and refuses every other topic. A server
// with neither is refused by NewServer ([ErrNoTopics]): no default
// exposes every topic.
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor. In ServerOptions, MaxConns, MaxConnsPerIP and MaxTopics take
// a negative value as "no limit" and Heartbeat as "no heartbeats";
// NewServer names any other negative field in its error.
//
// # Framing
//
// [AppendEvent] writes the WHATWG HTML standard's format: "event:", one
// "data:" field per line of the payload (split at CR, LF and CRLF, so a
// payload can never start another field or event), "id:" and "retry:".
// IDs with NUL, CR or LF and types with CR or LF are refused. [Decoder]
// is the standard's parser (CR, LF and CRLF line endings, BOM, comments,
// the one-space rule, id without NUL, digit-only retry) with a size bound.
// Both are fuzzed, including the round trip.
//
// # Streams, topics and IDs
//
// Each request's topics come from ServerOptions.Topics, the place for
// authentication (it returns the topics, or an error that becomes the
// HTTP status), or, without it, from the "topic" query parameters, each
// of which must be one of ServerOptions.PublicTopics (else 403). A topic
// named twice is served once; more than ServerOptions.MaxTopics (16)
// distinct topics get 400, so one request cannot make the broker and
// the server hold thousands of topics; a topic name, whoever chose it, is
// at most MaxTopicLen (256) bytes. Every message published to a topic on the broker, by this
// server or any other sharing it, becomes an event whose id is the
// broker's message ID ("<ms>-<seq>"). A live stream starts with an
// id-only block naming the point it joined, so even a stream cut before
// its first event resumes from there.
//
// # Resumption and lost events
//
// A client resumes with the Last-Event-ID header (browsers send it when
// they reconnect) or, on a first connection such as a page reload, with
// the lastEventID query parameter. The server replays the broker's
// retained messages after that ID and then switches the stream to the
// live fan-out without a gap or a duplicate: the replay runs until it has
// reached the last message the fan-out dispatched, and fan-out messages
// up to the replay's last ID are skipped for that stream.
//
// When the ID is older than the broker retains, or is not a message ID
// ("<ms>-<seq>", at most 41 bytes: anything else, however long, is not
// looked at further), events were lost; the server says so twice, as
// Mercure does: the response header [HeaderLost] ("Events-Lost: true")
// for clients that can read headers, and a first event of type
// ServerOptions.LostEvent (default "lost", no id field) for browsers,
// whose EventSource cannot. Its data is the requested ID if it was a
// message ID and empty otherwise: the server never echoes what the client
// sent unchecked. It then replays what is retained (from a non-ID it
// starts live) and goes on.
//
// What resumption promises depends on the broker:
//
//   - pubsub.NewMemory shared by the server instances of one process
//     (the server restarts, the broker lives on): every event after the
//     client's last ID, exactly once and in order, as long as it is still
//     in the topic's history (MemoryOptions.MaxMessages, MaxBytes,
//     MaxAge). A new process has a new broker: IDs from before it are
//     reported lost.
//   - pubsub/redis: the same across instances and restarts of the
//     servers, within the stream's MAXLEN; a client may reconnect to any
//     instance. If Redis itself loses the stream (a restart without
//     persistence), a resuming client is told events were lost.
//
// The promise is per topic. A stream of several topics carries one
// Last-Event-ID and resumes every topic from it; events of different
// topics are not ordered against each other, so such a stream may miss an
// event of one topic published just before an event of another it
// already saw. Give a stream one topic where exactness matters.
//
// # Slow clients
//
// Each stream has a bounded send queue (internal/sendq, the queue ws
// uses) fed by one fan-out goroutine per topic, which never waits for a
// stream (except under Block): a slow client never delays the others.
// The default policy is Disconnect: a stream whose queue overflows is
// closed, and the client comes back with Last-Event-ID and catches up
// from history, losing nothing within retention. DropOldest,
// DropNewest and CoalesceByKey suit feeds where only fresh data matters
// (dropped events are not reported to the client). Publishing never
// waits for the fan-out either: if a topic's fan-out falls further behind
// than the broker buffers (MemoryOptions.MaxMessages, redis.Options.Buffer),
// the skipped messages are counted in Stats.BrokerSkipped and its live
// streams get the lost event; size the history for your bursts.
//
// Every write and flush has a deadline (ServerOptions.WriteTimeout, set
// with http.ResponseController), so a client that stops reading is
// dropped without a goroutine watching it.
//
// # Proxies, compression and HTTP/2
//
// Responses carry Cache-Control: no-cache and X-Accel-Buffering: no (nginx
// does not buffer them); each batch of events is flushed at once; an idle
// stream gets a comment line every ServerOptions.Heartbeat (15s), below
// common proxy idle timeouts (queued by one server goroutine for all
// streams, so an idle stream has no timer of its own). The stream works
// through the compress middleware, which flushes each event, and over
// HTTP/2, where a browser is not limited to six streams per origin.
//
// # Connections and goroutines
//
// On HTTP/1.1, when the handler gets net/http's own ResponseWriter, a
// stream owns its connection as ws does: it hijacks it once the stream
// starts (writing the chunked response itself, with Connection: close)
// and the handler returns, so an idle stream costs one goroutine, which
// reads the connection only to see the client leave, and no bufio
// buffers. A topic's fan-out writes each event straight to the socket
// when nothing is queued for the stream and the socket takes it without
// waiting (unix, plain TCP); otherwise the event is queued and a writer
// goroutine writes the backlog in batches and exits when it is empty.
// The request's context is not watched after the hijack: a stream ends
// when the client closes the connection, a write fails, or the server
// ends it. Behind a wrapping ResponseWriter (middleware such as compress)
// and on HTTP/2 the handler goroutine holds the stream while it is open
// and watches the request's context; a writer goroutine runs while events
// arrive and exits 0.1–0.2 s after the last one.
//
// # Shutdown
//
// Admission (origin check, client IP, limits: a stream counts against
// MaxConns, and in Stats.Conns, from admission to release, as in ws), the
// topic registry, the heartbeat clock and shutdown are the
// connection-server core the server shares with ws.
//
// [Server.Shutdown] refuses new streams with 503, writes each stream's
// queued events, then a retry field chosen at random across
// ServerOptions.ShutdownWindow (so clients come back spread over the
// window, not in one storm) and a closing comment, and ends the
// response. http.Server.Shutdown neither ends event streams (a handler
// returns only when its stream ends) nor tracks the connections streams
// own: call [Server.RegisterOnShutdown] so its drain ends them, and
// Server.Shutdown or Close after it to wait for them.
//
// # Client
//
// [Client] and [Subscribe] read a stream with [Decoder], reconnect after
// the server's retry delay (doubled after each failed attempt up to
// ClientOptions.MaxBackoff, with jitter), send Last-Event-ID, retry 5xx and
// 429 (honouring Retry-After) and stop on 204 or another status, as
// browsers do. Events come through an iterator ([Client.Events]) or a
// channel ([Subscription.C]).
//
// This package imports the standard library, pubsub and internal
// packages only.
package sse
