package connserver

import (
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

// Config is what an adapter's options give the core. Fill validates it and
// applies the defaults; the adapter then reads the filled values from
// [Server.Config].
type Config struct {
	Pkg  string // the adapter's package name: prefixes errors and response bodies
	Type string // the adapter's options type, named in option errors

	// MaxConns and MaxConnsPerIP: 0 means the default (10000, 100),
	// negative no limit.
	MaxConns, MaxConnsPerIP int
	// RetryAfter: 0 means 5s; negative is an error.
	RetryAfter time.Duration
	// ClientIP: nil means RemoteIP.
	ClientIP func(*http.Request) string
	// OriginPatterns: path.Match patterns of allowed cross-origin hosts.
	OriginPatterns []string

	// Policy: Inherit means DefaultPolicy. TopicPolicy is copied.
	Policy, DefaultPolicy sendq.Policy
	TopicPolicy           map[string]sendq.Policy
	// QueueMessages and QueueBytes: 0 means 64 and 1 MiB; negative is an
	// error.
	QueueMessages, QueueBytes int
	// BlockTimeout and WriteTimeout: 0 means 5s and 10s; negative is an
	// error.
	BlockTimeout, WriteTimeout time.Duration

	// Heartbeat is the period of the clock's beats (Hooks.Beat is called
	// BeatSlots times per period); negative means none. Its default is the
	// adapter's: Fill leaves it alone.
	Heartbeat time.Duration
	// LingerWait is how many linger ticks (LingerTick each) LingerChan's
	// channel waits; 1 to MaxLingerWait.
	LingerWait int

	// ShutdownBatch is how many connections Shutdown closes at a time: 0
	// means all at once. ShutdownJitter is the largest random pause
	// between two batches; 0 means none.
	ShutdownBatch  int
	ShutdownJitter time.Duration
}

// Negative is the options rule's error for a negative field.
func Negative(pkg, typ, field string, v any) error {
	return fmt.Errorf("%s: %s.%s is negative (%v)", pkg, typ, field, v)
}

// Checker applies the options rule field by field and keeps the first
// error.
type Checker struct {
	Pkg, Type string
	Err       error
}

// Int fills *p with def when zero; a negative value is kept when
// negOK (the field gives it a meaning), else it is the error.
func (c *Checker) Int(field string, p *int, def int, negOK bool) {
	switch {
	case *p == 0:
		*p = def
	case *p < 0 && !negOK:
		c.fail(field, *p)
	}
}

// Int64 is Int for an int64 field.
func (c *Checker) Int64(field string, p *int64, def int64, negOK bool) {
	switch {
	case *p == 0:
		*p = def
	case *p < 0 && !negOK:
		c.fail(field, *p)
	}
}

// Duration is Int for a duration field.
func (c *Checker) Duration(field string, p *time.Duration, def time.Duration, negOK bool) {
	switch {
	case *p == 0:
		*p = def
	case *p < 0 && !negOK:
		c.fail(field, *p)
	}
}

func (c *Checker) fail(field string, v any) {
	if c.Err == nil {
		c.Err = Negative(c.Pkg, c.Type, field, v)
	}
}

// Fail records err unless an error was recorded already.
func (c *Checker) Fail(err error) {
	if c.Err == nil {
		c.Err = err
	}
}

// Fill validates c and applies the defaults of the shared fields. It
// copies what it keeps (patterns, topic policies), never changing the
// caller's.
func (c *Config) Fill() error {
	v := Checker{Pkg: c.Pkg, Type: c.Type}
	v.Int("MaxConns", &c.MaxConns, 10000, true)
	v.Int("MaxConnsPerIP", &c.MaxConnsPerIP, 100, true)
	v.Duration("RetryAfter", &c.RetryAfter, 5*time.Second, false)
	v.Int("QueueMessages", &c.QueueMessages, 64, false)
	v.Int("QueueBytes", &c.QueueBytes, 1<<20, false)
	v.Duration("BlockTimeout", &c.BlockTimeout, 5*time.Second, false)
	v.Duration("WriteTimeout", &c.WriteTimeout, 10*time.Second, false)
	if v.Err != nil {
		return v.Err
	}
	if c.Policy == sendq.Inherit {
		c.Policy = c.DefaultPolicy
	}
	if c.Policy > sendq.CoalesceByKey {
		return fmt.Errorf("%s: %s.Policy: unknown policy %v", c.Pkg, c.Type, c.Policy)
	}
	if c.TopicPolicy != nil {
		m := make(map[string]sendq.Policy, len(c.TopicPolicy))
		for k, p := range c.TopicPolicy {
			if p > sendq.CoalesceByKey {
				return fmt.Errorf("%s: %s.TopicPolicy: unknown policy %v for topic %q", c.Pkg, c.Type, p, k)
			}
			m[k] = p
		}
		c.TopicPolicy = m
	}
	for _, p := range c.OriginPatterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%s: %s.OriginPatterns: %q is not a path.Match pattern: %w", c.Pkg, c.Type, p, err)
		}
	}
	c.OriginPatterns = append([]string(nil), c.OriginPatterns...)
	if c.LingerWait < 1 || c.LingerWait > MaxLingerWait {
		return fmt.Errorf("%s: linger wait %d out of range", c.Pkg, c.LingerWait)
	}
	return nil
}

// Policies converts an adapter's topic policies to the queue's; nil stays
// nil.
func Policies[P ~uint8](m map[string]P) map[string]sendq.Policy {
	if m == nil {
		return nil
	}
	out := make(map[string]sendq.Policy, len(m))
	for k, p := range m {
		out[k] = sendq.Policy(p)
	}
	return out
}
