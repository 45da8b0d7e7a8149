package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// spread summarizes timings; its JSON sits under a key that names the unit
// (e.g. "pooled_ms").
type spread struct {
	Median float64 `json:"median"`
	P10    float64 `json:"p10"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"samples"`
}

// summarize returns the spread of xs, which it does not modify.
func summarize(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q := func(p float64) float64 { return round3(s[int(math.Round(p*float64(len(s)-1)))]) }
	return spread{Median: q(0.5), P10: q(0.1), P90: q(0.9), Min: round3(s[0]), Max: round3(s[len(s)-1]), N: len(s)}
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round2(f float64) float64 { return math.Round(f*100) / 100 }
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// fmtMS renders milliseconds with two significant digits and the unit:
// 0.052 ms, 0.41 ms, 1.9 ms, 32 ms.
func fmtMS(v float64) string {
	switch a := math.Abs(v); {
	case a < 0.1:
		return fmt.Sprintf("%.3f ms", v)
	case a < 1:
		return fmt.Sprintf("%.2f ms", v)
	case a < 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// fmtBytes renders a size with two or three significant digits: 870 B,
// 3.1 KB, 16 KB, 1.2 MB (powers of 1000, as network tools count).
func fmtBytes(n int64) string {
	f := float64(n)
	switch {
	case f < 1000:
		return fmt.Sprintf("%d B", n)
	case f < 10e3:
		return fmt.Sprintf("%.1f KB", f/1e3)
	case f < 1e6:
		return fmt.Sprintf("%.0f KB", f/1e3)
	}
	return fmt.Sprintf("%.1f MB", f/1e6)
}
