// Package ws is a WebSocket hub on github.com/coder/websocket: origin
// checks, connection limits, a bounded send queue per connection with a
// slow-consumer policy, heartbeats, topics over a pubsub.Broker, graceful
// shutdown, and a reconnecting Go client.
//
// # Quick start
//
//	var hub *ws.Hub
//	hub, err := ws.NewHub(&ws.HubOptions{
//		OnConnect: func(ctx context.Context, c *ws.Conn) { hub.Subscribe(ctx, c, "news") },
//		OnMessage: func(ctx context.Context, c *ws.Conn, typ websocket.MessageType, b []byte) {
//			c.Send(ctx, typ, b) // echo
//		},
//	})
//	defer hub.Close()
//	mux.Handle("GET /ws", hub)
//	srv, err := httpx.NewServer(mux, nil) // or an *http.Server
//	hub.RegisterOnShutdown(srv, 10*time.Second)
//	go srv.Serve(l, nil) // l: a net.Listener
//	hub.Publish(ctx, "news", []byte(`{"headline":"…"}`))
//	srv.Shutdown(ctx) // on SIGTERM: the drain closes the connections with 1001
//
// RegisterOnShutdown takes anything with RegisterOnShutdown(func()):
// httpx.Server runs the hook when its drain starts (while the readiness
// endpoint answers 503 and a load balancer still sends traffic), so
// upgrades get 503 and clients reconnect to another instance; an
// *http.Server runs it from its Shutdown.
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor. In HubOptions, ReadLimit, MaxConns, MaxConnsPerIP and
// MaxTopicsPerConn take a negative value as "no limit", PingInterval as
// "no heartbeats", ShutdownBatch as "all at once" and ShutdownJitter as
// "no pause"; NewHub names any other negative field in its error.
//
// # Accepting
//
// Before the upgrade the hub refuses, with 403, a browser page from
// another origin unless OriginPatterns allow it (cross-site WebSocket
// hijacking: the browser sends cookies with the upgrade), and with HTTP
// 503 and Retry-After a connection over MaxConns or MaxConnsPerIP or
// during shutdown. A connection counts against the limits, and in
// Stats.Conns, from the moment it is admitted (before the handshake) until
// it is released, as in sse. The admission, limits, origin check, topic
// registry, heartbeat clock and shutdown are the connection-server core
// the hub shares with sse. Compression is off by default: permessage-deflate with context
// takeover keeps about 1.2 MB of deflate state per connection.
//
// # Goroutines and messages
//
// Each connection has a reader goroutine, which runs OnConnect and then
// OnMessage for each message in order. A writer goroutine runs only while
// the connection's bounded queue has messages: at each pass it takes what
// is queued (up to 256 messages or 64 KiB) and writes it as separate
// WebSocket messages in one system call, within WriteTimeout; when the
// queue is empty it waits for more for 200–300ms (three of the hub's 100ms
// ticks), then exits. Each topic has a fan-out goroutine that copies the
// broker's messages into its subscribers' queues: when it has fallen behind
// the publishers it takes up to 64 waiting messages at once and queues them
// to each connection under one lock with one writer wakeup, so each writer
// pass sends them with one system call; while behind, it yields to the
// writers after each round. When it keeps up (one message at a time) it
// writes the message straight to each connection that has nothing queued
// and whose socket takes it at once (plain TCP or unix sockets without
// compression), with one non-blocking write and no writer wakeup; only a
// full socket or a backlog goes through the queue and the writer. One hub goroutine schedules heartbeats and
// those ticks, so an idle connection has one goroutine and no timer; a ping
// runs on a short-lived goroutine so messages keep flowing while it waits
// for its pong, and a missing pong closes the connection. A text message
// that is not valid UTF-8 closes it with 1007, a message over ReadLimit
// with 1009. A client that breaks the protocol (a malformed frame: reserved
// bits or opcodes, an unmasked frame, a continuation with nothing to
// continue) gets 1002 and its TCP connection is closed at once: nothing
// more it sent is read or answered, and the connection stops counting
// against the limits then, without waiting for a close handshake.
//
// # Callbacks that fail
//
// A panic in a HubOptions callback is recovered, and a runtime.Goexit
// (t.FailNow in a test) is handled the same way: the hub frees what the
// goroutine held and goes on. Both are counted in Stats.CallbackPanics. OnConnect, OnMessage or AllowTopic failing
// closes its connection with 1011 (internal error) and
// ReasonCallbackPanic; TopicKey failing means the message has no key;
// ClientIP failing answers that request with 500; OnClose failing changes
// nothing else. The Client reports a failing callback to OnError as a
// *PanicError and goes on.
//
// # Memory and throughput
//
// An idle connection costs about 10.5 KB on the server (measured with
// 10,000 connections, on top of the accepted socket): the reader's stack,
// coder/websocket's connection state, a 1 KiB read buffer and a 256-byte
// write buffer (net/http's 4 KiB buffers are replaced when the connection
// is hijacked), and the hub's connection and empty queue. Queue slots and
// the batch buffer are taken while messages wait and given back when the
// queue drains. Without compression the writer encodes data frames itself
// (a broadcast's payload is shared by every subscriber's queue and copied
// only into the buffer of the write that sends it); with
// compression, coder/websocket writes them. HubOptions.JoinSeparator joins
// the text messages queued together into one message, as gorilla's chat
// example does, for feeds whose clients can split them.
//
// # Backpressure
//
// Messages wait in the connection's queue (QueueMessages, QueueBytes).
// When a client reads slower than messages arrive, Policy (or TopicPolicy
// for a topic) decides: DropOldest, DropNewest, CoalesceByKey (keep the
// latest per key: prices), Block (the sender waits up to BlockTimeout) or
// Disconnect. Conn.SendPriority uses a lane that is never dropped; if it
// overflows the client is disconnected. Memory per connection is bounded
// by the queue whatever the client does, and one slow client never delays
// the others under the dropping policies.
//
// # Topics and the client control protocol
//
// Hub.Subscribe puts a connection in a topic; Hub.Publish goes through the
// Broker, so every hub sharing it (pubsub/redis across instances) delivers
// to its own subscribers. Published payloads are sent as they are: text if
// valid UTF-8, else binary. Conn.Send takes text (valid UTF-8) or binary
// messages only. A connection is in at most HubOptions.MaxTopicsPerConn
// topics (16 by default); subscribing it to a topic again is a no-op.
//
// With HubOptions.ClientTopics, a client subscribes itself by sending a
// text message {"op":"subscribe","topic":"T"} (or "unsubscribe"). It may
// subscribe only to the topics listed in HubOptions.PublicTopics or
// accepted by AllowTopic; NewHub refuses ClientTopics without either, so
// no topic is readable by accident. The hub answers on the priority lane
// with {"op":"subscribed","topic":"T"}, {"op":"unsubscribed","topic":"T"}
// or {"op":"error","topic":"T","error":"…"} (a topic not allowed, over
// MaxTopicsPerConn, or a name over MaxTopicLen bytes, which is not echoed);
// the connection stays open. Any other message goes to OnMessage.
// [Client] speaks this protocol and resubscribes after reconnecting; a
// topic the hub refuses is forgotten, and reported through
// ClientOptions.OnError when the refusal comes at a resubscription.
//
// # Shutdown
//
// net/http does not track hijacked connections, so srv.Shutdown does not
// close them: wire Hub.Shutdown into the server with Hub.RegisterOnShutdown
// (an httpx.Server or an *http.Server). Shutdown flushes each connection's queue and
// sends 1001 "going away" with a reconnect hint in the reason, in batches
// with random pauses so clients do not all reconnect at once. Close drops
// everything at once. Both join every goroutine the hub started.
//
// # Caveats
//
// Topics are live: what is published while a client is disconnected or
// reconnecting is not replayed (the Broker's history is not used; sse
// resumes from Last-Event-ID). Under Block a topic's fan-out waits for
// the slowest subscriber, up to BlockTimeout per message. A broadcast costs
// at least one write system call per client per writer pass; a client's
// ping or close frame that arrives during a pass goes out with that pass's
// write.
package ws
