package wanem

import (
	"io"
	"time"
)

// CheckShape exposes Shape validation.
func CheckShape(s Shape) (Shape, error) { return s.check() }

// chanIO is an in-memory packet source and sink.
type chanIO struct {
	in  chan []byte
	out chan []byte
}

func (c *chanIO) Read(b []byte) (int, error) {
	p, ok := <-c.in
	if !ok {
		return 0, io.EOF
	}
	return copy(b, p), nil
}

func (c *chanIO) Write(b []byte) (int, error) {
	c.out <- append([]byte(nil), b...)
	return len(b), nil
}

// RunPipe sends packets through a pipe shaped by s and returns what came
// out, in order, and the counters. Packets are sent at the given interval
// (0: as fast as possible).
func RunPipe(s Shape, seed uint64, packets [][]byte, interval time.Duration) ([][]byte, Counters, error) {
	s, err := s.check()
	if err != nil {
		return nil, Counters{}, err
	}
	c := &chanIO{in: make(chan []byte), out: make(chan []byte, len(packets))}
	p := newPipe(c, c, 1500, seed, s)
	p.start()
	for _, pk := range packets {
		c.in <- pk
		if interval > 0 {
			time.Sleep(interval)
		}
	}
	close(c.in)
	// Wait for everything admitted to leave.
	for {
		cur := p.c.snapshot()
		if cur.Packets == int64(len(packets)) && cur.Forwarded+cur.Dropped() == cur.Packets {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.close()
	close(c.out)
	var out [][]byte
	for b := range c.out {
		out = append(out, b)
	}
	return out, p.c.snapshot(), nil
}
