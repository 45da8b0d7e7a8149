// Package connserver is the machinery a server of long-lived connections
// shares across protocols: ws (WebSocket), sse (Server-Sent Events) and wt
// (WebTransport) are thin protocol adapters over it.
//
// A [Server] owns, for one adapter:
//
//   - admission: the client IP ([RemoteIP], or the application's hook,
//     recovered), origin checking (same-origin by default, host patterns),
//     and global and per-IP limits with reservations, answered with 503 and
//     Retry-After;
//   - the registry of open connections and the meaning of "active": a
//     connection counts against MaxConns, MaxConnsPerIP and Snapshot.Conns
//     from its reservation (before the protocol upgrade or the stream's
//     start) until it is released, so concurrent upgrades cannot overrun a
//     limit and Stats never under-reports what the limits see;
//   - the topic registry over a pubsub.Broker: one broker subscription per
//     topic with local members, made once (concurrent joiners wait for it),
//     a per-topic slow-consumer policy, and the close of the subscription
//     when its last member leaves;
//   - one clock goroutine for every connection's heartbeat (spread over
//     [BeatSlots] ticks) and for idle writers' lingering, so an idle
//     connection has no timer of its own;
//   - drain: Shutdown closes connections gracefully in jittered batches,
//     Close drops them, both join every goroutine; [RegisterOnShutdown]
//     wires either into *http.Server or httpx.Server;
//   - the counters both adapters report, and the queue-depth summary.
//
// The fan-out loops and the writers stay in the adapters: they are the
// protocols' hot paths. What they share for it is [InlineWriter], a
// non-blocking socket write made without a goroutine.
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor. [Config.Fill] applies it to the shared fields, with the
// adapter's package and options type in the error.
package connserver
