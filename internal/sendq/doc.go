// Package sendq is the per-connection outbound queue shared by ws, sse and
// wt: bounded in messages and bytes, with a slow-consumer policy, a
// priority lane, watermarks and observable depth and age.
//
// # Quick start
//
//	q, err := sendq.New[[]byte](&sendq.Options{Policy: sendq.DropOldest})
//	// producers (hub fan-out, handlers):
//	err = q.Push(ctx, sendq.Item[[]byte]{Value: msg, Size: len(msg)})
//	// the connection's single writer goroutine:
//	for {
//		it, err := q.Next(ctx)
//		if err != nil {
//			break // ErrClosed after a graceful Close, or the failure cause
//		}
//		write(it.Value)
//	}
//
// # Lanes and order
//
// There are two lanes. The normal lane holds at most Options.MaxMessages
// items and Options.MaxBytes bytes and is subject to the policy. The
// priority lane (Item.Priority) is never dropped by a policy; [Queue.Next]
// always empties it first, so a priority item may overtake normal items
// queued before it. Within a lane, order is first in, first out
// (coalescing replaces an item in place, see [CoalesceByKey]).
//
// The priority lane has its own bounds (Options.PriorityMaxMessages and
// PriorityMaxBytes). A priority item that does not fit means the consumer
// cannot be given what it must not miss: the queue fails with
// [ErrSlowConsumer] (the connection is to be closed, the client reconnects
// and resynchronises). Priority items are therefore delivered in order or
// the connection ends; they are never silently dropped.
//
// # Policies
//
// When a normal item does not fit, the item's policy (Item.Policy, else
// Options.Policy) decides: [DropOldest] evicts the oldest normal items,
// [DropNewest] refuses the new one ([ErrDropped]), [Block] makes the
// producer wait up to Options.BlockTimeout and then fails the queue with
// [ErrSlowConsumer], [Disconnect] fails the queue at once, and
// [CoalesceByKey] replaces a queued item with the same Item.Key and
// otherwise behaves like DropOldest.
//
// # Watermarks
//
// The fill level is the larger of the normal lane's message and byte
// fractions. When it reaches Options.HighWatermark, or when an item does not
// fit, OnLagging(true) is called: the producer that finds an item not
// fitting first calls it and only then drops, blocks or fails (producers
// on other goroutines may go ahead while it runs). When the consumer
// brings the level down to Options.LowWatermark, OnLagging(false). Calls
// alternate strictly.
//
// Block stalls the producer, so it suits a producer that serves one
// connection; a hub fanning out to many connections should prefer a
// dropping policy or a short BlockTimeout, or one slow consumer delays
// the others.
//
// # Failure
//
// A failed queue (policy [Disconnect], a [Block] timeout, a full priority
// lane, or [Queue.CloseWithError]) discards what it holds: Next returns
// the cause at once and [Queue.Done] is closed so the connection can be torn
// down. A graceful [Queue.Close] instead lets Next drain what is queued
// before returning [ErrClosed].
//
// # Memory and writers that stop when idle
//
// A queue allocates its slots as items arrive, doubling up to its bound,
// and gives them back when it is drained and the consumer waits (Next) or
// says it goes idle ([Queue.Release]): an idle connection's queue holds no
// slots, whatever MaxMessages is. A consumer that runs only while there is
// work takes items with [Queue.Poll] (which, unlike TryNext, reports a
// closed or failed queue) and, after marking itself stopped, checks
// [Queue.Ready] so a Push that raced with its last Poll is not missed.
//
// # A server's totals
//
// A server with many connections gives every queue the same OnDrop,
// [DropCounts.Count], to total what its policies dropped, and reports its
// queues' depths with [Summarize] over their [Queue.Stats].
package sendq
