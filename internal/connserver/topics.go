package connserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// Topic is a topic with local members: one broker subscription, read by
// the adapter's fan-out, for all of them. Its fields other than Name,
// Policy and StartID are guarded by Server.Mu.
type Topic[C comparable, M any] struct {
	Name    string
	Policy  sendq.Policy        // Config.TopicPolicy's entry (Inherit: the queue's)
	Sub     pubsub.Subscription // nil while the subscription is being made
	Members map[C]M
	Gen     uint64 // changes with Members, so a fan-out can keep a copy
	// StartID is an ID just before the broker subscription began (IDs
	// start with the publish time); LastID the last one the fan-out
	// dispatched, kept by the adapter.
	StartID, LastID string

	ready chan struct{} // non-nil while the subscription is being made; closed when done
}

// Anchor is the ID after which a member joining now gets the fan-out.
// Call with Server.mu held.
func (t *Topic[C, M]) Anchor() string {
	if t.LastID != "" {
		return t.LastID
	}
	return t.StartID
}

// ErrJoined, returned by Joiner.Check, makes Join return the topic with
// no error: the connection is in it already.
var ErrJoined = errors.New("connserver: joined already")

// Joiner is one connection's side of Join; its functions run with Mu held.
type Joiner[C comparable, M any] struct {
	// Check, if set, runs before the connection joins, after any wait for
	// another caller's subscription: a non-nil error is Join's (ErrJoined:
	// none). t is nil when the topic has no local members: Join will then
	// subscribe to the broker without holding Mu.
	Check func(t *Topic[C, M]) error
	// Add makes the connection a member of t.
	Add func(t *Topic[C, M])
	// Settled, if set, runs once the broker subscription Join made has
	// settled, whatever the outcome; false means the connection no longer
	// wants the topic (it ended meanwhile).
	Settled func() bool
	// Cancel, if set, ends a wait for another caller's subscription, as
	// ctx's end does.
	Cancel <-chan struct{}
}

// Join adds a connection to the topic name. The first local member of a
// topic subscribes the server to the broker once, without holding Mu
// (concurrent joiners wait for it; ctx bounds that call and that wait),
// and Hooks.Start starts its fan-out. It returns ErrClosing once the
// server is closing, ErrGone when Settled said no, and the broker's error
// wrapped.
func (s *Server[C, M]) Join(ctx context.Context, name string, j *Joiner[C, M]) (*Topic[C, M], error) {
	for {
		s.Mu.Lock()
		if s.closing {
			s.Mu.Unlock()
			return nil, ErrClosing
		}
		t := s.topics[name]
		if t != nil && t.ready != nil { // another caller is subscribing
			ready := t.ready
			s.Mu.Unlock()
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			case <-j.Cancel:
				return nil, context.Canceled
			}
		}
		if j.Check != nil {
			if err := j.Check(t); err != nil {
				s.Mu.Unlock()
				if err == ErrJoined {
					return t, nil
				}
				return nil, err
			}
		}
		if t != nil {
			j.Add(t)
			s.Mu.Unlock()
			return t, nil
		}
		start := strconv.FormatInt(time.Now().UnixMilli()-1, 10)
		t = &Topic[C, M]{Name: name, Policy: s.cfg.TopicPolicy[name], StartID: start, Members: make(map[C]M), ready: make(chan struct{})}
		s.topics[name] = t
		s.Mu.Unlock()

		sub, err := s.broker.Subscribe(ctx, name, "")

		s.Mu.Lock()
		close(t.ready)
		t.ready = nil
		alive := j.Settled == nil || j.Settled()
		switch {
		case err != nil:
			delete(s.topics, name)
		case s.closing || (!alive && len(t.Members) == 0):
			delete(s.topics, name)
			sub.Close()
		default:
			t.Sub = sub
			if alive {
				j.Add(t)
			}
			s.hooks.Start(t)
		}
		closing := s.closing
		s.Mu.Unlock()
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: subscribe to %q: %w", s.cfg.Pkg, name, err)
		case closing:
			return nil, ErrClosing
		case !alive:
			return nil, ErrGone
		}
		return t, nil
	}
}

// TopicLocked returns the topic of that name with local members, or nil.
// Call with Mu held.
func (s *Server[C, M]) TopicLocked(name string) *Topic[C, M] { return s.topics[name] }

// TopicsLocked returns how many topics have local members. Call with Mu
// held.
func (s *Server[C, M]) TopicsLocked() int { return len(s.topics) }

// LeaveLocked removes c from t; the last member's leaving closes the
// topic's broker subscription (a pending one is settled by its Join).
// Call with Mu held.
func (s *Server[C, M]) LeaveLocked(t *Topic[C, M], c C) {
	delete(t.Members, c)
	t.Gen++
	if len(t.Members) == 0 && t.ready == nil && s.topics[t.Name] == t {
		delete(s.topics, t.Name)
		t.Sub.Close()
	}
}
