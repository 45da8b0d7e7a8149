// Package redis is a [pubsub.Broker] on Redis Streams, so several instances
// of a service share fan-out and history: each topic is a stream
// ("pubsub:<topic>"), Publish is XADD with an approximate MAXLEN, replay is
// XRANGE and live delivery is XREAD BLOCK. A stream entry ID is the
// message ID, in the same "<ms>-<seq>" format as the memory broker's.
//
// It is a module of its own, so that only programs that use Redis have
// go-redis in their module graph: go get github.com/wirespeed/wirespeed/pubsub/redis.
//
// Import it under a name that does not clash with go-redis:
//
//	import (
//		goredis "github.com/redis/go-redis/v9"
//		pubsubredis "github.com/wirespeed/wirespeed/pubsub/redis"
//	)
//
//	client := goredis.NewClient(&goredis.Options{Addr: "localhost:6379"})
//	b, err := pubsubredis.New(client, nil)
//	defer b.Close()
//
// # How delivery works
//
// An instance reads the streams of the topics it has local subscribers of
// with XREAD BLOCK, each from the last ID it read, and appends to a
// bounded buffer per topic (Options.Buffer) that every local subscription
// of the topic reads at its own position, as in the memory broker. With a
// *goredis.Client (one Redis, or Sentinel failover) one goroutine reads
// all those topics in one command on one connection, which it interrupts
// with CLIENT UNBLOCK when a topic is added or the broker closes: a
// subscription costs no goroutine or connection, and subscribers never
// hold the pool connections publishers need. A cluster or ring client
// cannot read streams of different slots in one command, so there each
// topic has its own reader goroutine and pool connection. Either way
// Options.MaxTopics bounds the topics with local subscribers (Subscribe
// gets an error wrapping pubsub.ErrTooManyTopics; Publish is never
// limited), and a topic's state goes when its last subscription closes.
// A Subscribe from an ID first pages through XRANGE up to the reader's
// position at Subscribe time, then continues from the buffer, so the
// replay and the live part join without a gap or a duplicate.
//
// # Guarantees
//
// While Redis is up:
//
//   - Publish returns once Redis stored the entry; its ID orders it in the
//     topic against every instance's messages.
//   - Every subscriber, on any instance, receives the messages of its
//     topic in stream ID order, each once, unless it falls behind its
//     buffer (a pubsub.LagError; Subscribe again from LagError.LastID to
//     replay them from the stream while the stream still holds them).
//   - Replay returns what the stream holds after fromID; MAXLEN ~ trims
//     the oldest entries (Redis may keep a few more than MaxLen). Lost is
//     true when an entry after fromID was deleted (XINFO STREAM
//     max-deleted-entry-id) or trimmed (fromID is below the first entry
//     of a stream that lost entries; conservative: a fromID that was
//     itself the last trimmed entry also reports Lost, because Redis does
//     not record which entry that was). Needs Redis 7.0 or later (XINFO
//     STREAM fields).
//   - A stream that did not exist at fromID (missing, or whose first entry
//     is newer) is a topic first written after fromID, or a stream Redis
//     lost. The broker tells them apart with INFO: Lost is true if the
//     server started after fromID (known to the second, so an ID from
//     the server's first second counts as older) or has evicted keys
//     (maxmemory with an allkeys policy). Where it cannot ask (a ring
//     client, an ACL that refuses INFO, an error), Lost is true. A stream
//     deleted by hand (DEL, FLUSHALL) is not detected.
//   - A fromID newer than the stream's last entry is not lost: an SSE
//     stream resumes all its topics from one Last-Event-ID, so it is
//     usually another topic's ID. (After a data loss, an ID of the old
//     stream is older than the new stream's entries, which are time
//     based, unless the Redis host's clock went back.) IDs are compared
//     with the Redis server's clock.
//
// When Redis is unreachable or restarts:
//
//   - Nothing panics and no subscription ends. Each reader retries with
//     exponential backoff and full jitter (Options.MinBackoff to
//     MaxBackoff) and resumes with XREAD from the last ID it read, so
//     entries Redis still holds are delivered once, in order.
//   - Publish fails with the Redis error. If this instance has
//     subscribers of the topic, they still receive the message, with a
//     local ID above every ID they have seen, and Publish returns that ID
//     with an error wrapping [ErrLocalOnly]. Such a message is normally
//     not in Redis: other instances do not see it and no replay contains
//     it. The exception is an XADD cut off after Redis executed it (the
//     connection broke before the reply): then the entry exists, other
//     instances receive it, and this instance's subscribers still get it
//     exactly once. Every entry carries a publish token ("p" field next to
//     the payload "d"); the reader skips an entry already delivered
//     locally, and a Publish whose entry the reader has already read
//     returns its stream ID and no error. Both records are bounded by
//     Options.Buffer.
//   - If Redis restarts without its data (no persistence), the streams
//     are gone: messages published before the restart cannot be replayed,
//     and entries Redis had accepted but a reader had not yet read when it
//     died never reach that reader's subscribers. A Subscribe from an ID
//     of before the restart reports Lost, before and after the topic is
//     written again (see above). With persistence, a stream that existed
//     is reloaded and answers as before the restart. Entries added after
//     the restart have time-based IDs above the old ones (unless the
//     Redis host's clock went back), so the readers pick them up.
//   - A Subscribe (and a replay page in Next) needs Redis and returns the
//     Redis error while it is down; Next can be called again.
//
// Close waits for the readers. A read it cannot interrupt with CLIENT
// UNBLOCK (cluster and ring clients, servers whose ACL refuses CLIENT ID)
// ends within Options.Block, because go-redis does not interrupt a
// blocked read when its context is cancelled.
package redis
