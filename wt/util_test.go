package wt_test

import (
	"strconv"
	"time"
)

func afterMillis(n int) <-chan time.Time { return time.After(time.Duration(n) * time.Millisecond) }

func readFull(r interface{ Read([]byte) (int, error) }, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
