package connserver

import (
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

// BeatSlots is how many ticks a Config.Heartbeat is divided into: each
// connection is visited at one of them, so a beat's work is spread.
const BeatSlots = 16

// LingerTick is the period of the linger ticks, and MaxLingerWait the
// most of them a LingerChan channel waits. A feed of a few messages a
// second keeps its writers parked rather than starting them again for
// every message, and each is woken once when it is time to go, not at
// every tick.
const (
	LingerTick    = 100 * time.Millisecond
	MaxLingerWait = 3
)

// lingerSlot is the channel closed at linger tick number tick.
type lingerSlot struct {
	tick uint64
	c    chan struct{}
}

// runClock is the server's one clock goroutine, started with the first
// connection: Hooks.Beat BeatSlots times per Heartbeat, and the linger
// ticks. It ends when Close begins.
func (s *Server[C, M]) runClock() {
	var beats <-chan time.Time
	if hb := s.cfg.Heartbeat; hb > 0 {
		t := time.NewTicker(max(hb/BeatSlots, time.Millisecond))
		defer t.Stop()
		beats = t.C
	}
	linger := time.NewTicker(LingerTick)
	defer linger.Stop()
	defer s.tickLinger(true)
	var slot uint64
	for {
		select {
		case <-beats:
			slot = (slot + 1) % BeatSlots
			s.hooks.Beat(slot)
		case <-linger.C:
			s.tickLinger(false)
		case <-s.done:
			return
		}
	}
}

// tickLinger closes the channel of the new tick, releasing the writers
// that have waited for it; last (the clock ends) releases them all, and
// writers stop lingering.
func (s *Server[C, M]) tickLinger(last bool) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	n := s.lingerTicks.Add(1)
	for i := range s.lingerWheel {
		p := &s.lingerWheel[i]
		if l := p.Load(); l != nil && (last || l.tick == n) {
			close(l.c)
			p.Store(nil)
		}
	}
	if last {
		s.clockOff = true
	}
}

// LingerChan returns the channel closed Config.LingerWait linger ticks from
// now (the first of them may come at once); an idle writer waits on it for
// more work before its goroutine exits. The writers that go idle after a
// broadcast all ask for the same one, so the common case takes no lock.
// Without a running clock the channel is closed: do not linger.
func (s *Server[C, M]) LingerChan() <-chan struct{} {
	target := s.lingerTicks.Load() + uint64(s.cfg.LingerWait)
	if l := s.lingerWheel[target%uint64(len(s.lingerWheel))].Load(); l != nil && l.tick == target {
		return l.c
	}
	s.Mu.Lock()
	defer s.Mu.Unlock()
	target = s.lingerTicks.Load() + uint64(s.cfg.LingerWait)
	p := &s.lingerWheel[target%uint64(len(s.lingerWheel))]
	if l := p.Load(); l != nil && l.tick == target {
		return l.c
	}
	c := make(chan struct{})
	if !s.clock || s.clockOff {
		close(c)
		return c
	}
	p.Store(&lingerSlot{tick: target, c: c})
	return c
}

// Linger waits, for a writer with nothing to write, until q has work
// (true), or Config.LingerWait linger ticks pass or done closes (then it
// reports whether q has work): under a steady feed the writer stays
// parked between messages instead of exiting and being started again for
// each one.
func Linger[T any, C comparable, M any](s *Server[C, M], q *sendq.Queue[T], done <-chan struct{}) bool {
	tick := s.LingerChan()
	ready := q.ReadyChan()
	if q.Ready() {
		return true
	}
	select {
	case <-ready:
		return true
	case <-tick:
	case <-done:
	}
	return q.Ready()
}
