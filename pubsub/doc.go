// Package pubsub is the fan-out seam shared by ws, sse and wt: a [Broker]
// publishes messages to topics and subscribes to them from an ID, replaying
// retained history and then continuing live.
//
// [NewMemory] is the in-process broker with bounded history per topic;
// the subpackage pubsub/redis implements the same interface on Redis
// Streams so several instances share fan-out and history. This package
// imports only the standard library.
//
// # Quick start
//
//	b, _ := pubsub.NewMemory(nil)
//	defer b.Close()
//	sub, _ := b.Subscribe(ctx, "prices", "") // live only
//	defer sub.Close()
//	id, _ := b.Publish(ctx, "prices", []byte(`{"BTC":100}`))
//	msg, _ := sub.Next(ctx) // msg.ID == id
//
// # IDs
//
// A message ID is "<ms>-<seq>": the publish time in Unix milliseconds and a
// sequence number within that millisecond, exactly the Redis Streams entry
// ID format, so IDs from both brokers parse and order the same way. IDs are
// strictly increasing per topic (the memory broker's are increasing across
// all its topics too, and never go back when the wall clock does). They are
// not zero-padded: compare them with [CompareIDs], not as strings. Because
// the first part is a time, an ID handed out before a process restart still
// orders sensibly against the IDs issued after it.
//
// # Replay and lost history
//
// Subscribe(ctx, topic, fromID) replays the retained messages with an ID
// greater than fromID, then delivers every later message. fromID "" means
// live only: no replay, the messages published after Subscribe returns.
// To replay everything retained, pass "0".
//
// Subscription.Lost reports whether messages after fromID may have been
// discarded before the replay: an SSE server uses it to tell a client with
// a stale Last-Event-ID to resynchronise. The memory broker answers
// exactly for what it discarded (history bounds, age) and conservatively
// for IDs from another process lifetime: an ID from before it was created,
// or from after its clock (a process whose clock was ahead), is reported
// lost, since it cannot know what was published then. fromID "0" is lost
// only when messages of the topic were discarded, in both brokers.
//
// # Topics
//
// A topic exists while it has subscribers or retained messages. In the
// memory broker a subscription costs no goroutine and, on a topic nobody
// published to, no history; such a topic is forgotten as soon as its last
// subscriber leaves, and a topic whose history aged out (MaxAge) once it
// has no subscribers. MemoryOptions.MaxTopics bounds only the topics
// publishers created: subscribers never count against it, so no number
// of subscriptions (for instance from clients naming throwaway topics)
// can make Publish fail. Bound subscriptions where they come from (ws and
// sse cap the topics per connection).
//
// # Slow subscribers
//
// Publishing never waits for subscribers. In the memory broker a topic's
// history is also every subscriber's buffer: a subscriber reads at its own
// position and costs no memory per message. One that falls further behind
// than the history reaches (MaxMessages, MaxBytes, MaxAge) gets a
// [LagError] from Next, which wraps [ErrLagged] and carries the last ID it
// received and how many messages it missed; the subscription then goes on
// from the oldest retained message. What to do is the caller's decision:
// an SSE or WebSocket connection usually reports the gap to its client (or
// closes it), or Subscribes again from LagError.LastID with a broker that
// retains more (the Redis stream).
//
// Subscribers must still read promptly or hand messages to their own
// bounded queue (the per-connection send queue of ws and sse does that):
// Next is not a buffer that grows.
package pubsub
