package pubsub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wirespeed/wirespeed/pubsub/internal/history"
)

// Broker publishes messages to topics and subscribes to them from an ID.
// Implementations are safe for concurrent use.
type Broker interface {
	// Publish appends data to topic and returns the message's ID, greater
	// than every ID published to the topic before. It does not wait for
	// subscribers. The broker keeps data; the caller must not modify it
	// afterwards.
	Publish(ctx context.Context, topic string, data []byte) (id string, err error)

	// Subscribe returns a subscription to topic. With fromID == "" it
	// delivers the messages published after Subscribe returns. Otherwise
	// it first replays the retained messages with an ID greater than
	// fromID, then continues live; Subscription.Lost reports whether
	// messages after fromID may have been discarded before the replay.
	// An ID that does not parse gives [ErrInvalidID]. ctx bounds only the
	// setup, not the subscription's life.
	Subscribe(ctx context.Context, topic, fromID string) (Subscription, error)

	// Close closes the broker and every subscription (their Next returns
	// [ErrClosed]) and waits for the broker's goroutines. Idempotent.
	Close() error
}

// Subscription is one subscriber's view of a topic. Next is for one
// goroutine at a time; Close may be called from any goroutine.
type Subscription interface {
	// Next returns the next message in ID order, waiting for one. It
	// returns an error wrapping [ErrLagged] (see [LagError]) when the
	// subscriber fell so far behind that messages were discarded before
	// it read them; the subscription then continues with the oldest
	// message still available. It returns [ErrClosed] after Close (of the
	// subscription or the broker) and ctx.Err() when ctx is done, leaving
	// the subscription usable.
	Next(ctx context.Context) (Message, error)

	// Lost reports whether fromID was older than the broker's retained
	// history, so messages published after it may be missing from the
	// replay (an SSE server tells the client to resynchronise). Always
	// false for a live-only subscription (fromID "").
	Lost() bool

	// LastID returns the ID of the last message Next returned, or fromID
	// before the first. Call it from the goroutine that calls Next. After [ErrLagged], Subscribe again from the
	// LagError's LastID to replay what is still retained elsewhere
	// (the Redis stream keeps more than a subscriber's buffer).
	LastID() string

	// Close ends the subscription and releases its resources; a Next in
	// progress returns ErrClosed. Idempotent; always returns nil.
	Close() error
}

// Message is one published message.
type Message struct {
	// Topic the message was published to.
	Topic string
	// ID is "<ms>-<seq>": the publish time in Unix milliseconds and a
	// sequence within that millisecond. Compare IDs with [CompareIDs], not
	// as strings.
	ID string
	// Data is the payload. Subscribers share it: do not modify it.
	Data []byte
	// Time is when the message was published (the ID's milliseconds for
	// brokers that keep nothing more precise).
	Time time.Time
}

// ErrClosed is returned by every operation on a closed broker and by
// Subscription.Next after Close.
var ErrClosed = errors.New("pubsub: closed")

// ErrInvalidID is returned by Subscribe for a fromID that is not
// "<ms>-<seq>" or "<ms>".
var ErrInvalidID = errors.New(`pubsub: invalid message ID; want "<ms>-<seq>" as returned by Publish, or "" for live only`)

// ErrLagged is wrapped by the [LagError] that Subscription.Next returns when
// the subscriber fell behind what the broker buffers for it.
var ErrLagged = errors.New("pubsub: subscriber lagged; messages were discarded before it read them")

// ErrTooManyTopics is returned when a topic would exceed a broker's
// MaxTopics option: by the memory broker's Publish for a topic not yet
// published to (its subscribers never get it, see
// MemoryOptions.MaxTopics), and wrapped by the Redis broker's Subscribe
// for a topic with no local subscribers yet.
var ErrTooManyTopics = errors.New("pubsub: too many topics; raise the broker's MaxTopics option or use fewer topics")

// LagError is returned by Subscription.Next when messages were discarded
// before the subscriber read them. errors.Is(err, ErrLagged) is true.
type LagError struct {
	// Topic of the subscription.
	Topic string
	// LastID is the last ID delivered before the gap (fromID if none).
	LastID string
	// Missed is how many messages were skipped (0 when unknown).
	Missed uint64
}

// Error describes the gap.
func (e *LagError) Error() string {
	return fmt.Sprintf("pubsub: subscriber of %q lagged after ID %q, %d messages discarded; Subscribe again from LastID to replay what is retained", e.Topic, e.LastID, e.Missed)
}

// Unwrap returns ErrLagged.
func (e *LagError) Unwrap() error { return ErrLagged }

// CompareIDs compares two message IDs numerically ("9-0" < "10-0"),
// returning -1, 0 or +1. Both brokers' IDs compare this way. An ID that
// does not parse sorts before every valid one.
func CompareIDs(a, b string) int {
	x, okA := history.ParseID(a)
	y, okB := history.ParseID(b)
	switch {
	case !okA && !okB:
		return 0
	case !okA:
		return -1
	case !okB:
		return 1
	}
	return x.Compare(y)
}

// ValidID reports whether id is a well-formed message ID ("<ms>-<seq>" or
// "<ms>"), as Subscribe accepts for fromID.
func ValidID(id string) bool {
	_, ok := history.ParseID(id)
	return ok
}
