package sse

import (
	"errors"

	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// replay sends a resuming stream the history of one topic after from, then
// hands it over to the topic's fan-out once it has reached what the
// fan-out dispatched. Replayed events are typed by EventType like live
// ones: a panic in it is counted and leaves the type out.
func (s *Server) replay(c *conn, name string, sub pubsub.Subscription, from string) {
	defer sub.Close()
	if s.switchLive(c, name, from) {
		return
	}
	for {
		m, err := sub.Next(c.setup)
		if errors.Is(err, pubsub.ErrLagged) {
			c.abort(errLagged)
			return
		}
		if err != nil {
			return
		}
		typ := ""
		if s.opt.EventType != nil {
			// A Goexit ends this replay: the stream ends too, and the
			// client resumes from its last ID.
			connserver.Guard(func() { typ = s.opt.EventType(name, m.Data) }, func(_ any, goexit bool) {
				s.core.Counters.CallbackPanics.Add(1)
				if goexit {
					c.abort(errCallback)
				}
			})
		}
		frame := s.frame(m, typ)
		err = c.q.Push(c.setup, sendq.Item[[]byte]{Value: frame, Size: len(frame), Policy: sendq.Block})
		c.kick()
		if err != nil && !errors.Is(err, sendq.ErrTooLarge) {
			return
		}
		s.st.replayed.Add(1)
		if s.switchLive(c, name, m.ID) {
			return
		}
	}
}

// switchLive makes c a live member of the topic if the replay has reached
// id and id is at or past the last message the fan-out dispatched. It
// returns true also when c is no longer a member.
func (s *Server) switchLive(c *conn, name, id string) bool {
	s.core.Mu.Lock()
	defer s.core.Mu.Unlock()
	t := c.topicLocked(name)
	if t == nil {
		return true
	}
	mb := t.Members[c]
	if mb == nil {
		return true
	}
	if t.LastID == "" || pubsub.CompareIDs(id, t.LastID) < 0 {
		return false
	}
	mb.live, mb.skip = true, id
	return true
}
