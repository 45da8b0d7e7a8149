package batch

import (
	"encoding/json"
	"time"
)

// SetGroupClock makes g read the time from now, so tests can expire kept
// results without sleeping.
func SetGroupClock[K comparable, V any](g *Group[K, V], now func() time.Time) { g.now = now }

// SetStoreClock makes s read the time from now.
func SetStoreClock(s *MemoryStore, now func() time.Time) { s.now = now }

// SplitArray is the decoder behind BulkHandler: it splits a body into its
// array elements, or returns the whole-request problem.
func SplitArray(body []byte, maxItems int) ([]json.RawMessage, *Problem) {
	return splitArray(body, maxItems)
}

// DecodeItem decodes one element as BulkHandler does.
func DecodeItem[T any](raw json.RawMessage, strict bool, item *T) *Problem {
	return decodeItem(raw, strict, item)
}
