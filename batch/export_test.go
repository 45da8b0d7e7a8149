package batch

import "time"

// SetGroupClock makes g read the time from now, so tests can expire kept
// results without sleeping.
func SetGroupClock[K comparable, V any](g *Group[K, V], now func() time.Time) { g.now = now }

// SetStoreClock makes s read the time from now.
func SetStoreClock(s *MemoryStore, now func() time.Time) { s.now = now }
