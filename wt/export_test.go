package wt

import "time"

// ParseAndEncode decodes one fallback frame and encodes it again, for
// the fuzz test.
func ParseAndEncode(b []byte, maxFrame, maxDatagram int) ([]byte, error) {
	f, err := parseFrame(b, maxFrame, maxDatagram)
	if err != nil {
		return nil, err
	}
	switch f.typ {
	case frameHello:
		return appendHello(nil, f.hello), nil
	case frameOpen, frameFin:
		return appendIDFrame(nil, f.typ, f.id), nil
	case frameData:
		return append(appendIDFrame(nil, f.typ, f.id), f.payload...), nil
	case frameReset, frameStopSending, frameCredit:
		return appendIDCodeFrame(nil, f.typ, f.id, f.n), nil
	case frameMaxStreams:
		return appendMaxStreams(nil, f.kind, f.n), nil
	case frameDatagram:
		return append([]byte{frameDatagram}, f.payload...), nil
	default: // frameClose
		return appendClose(nil, SessionErrorCode(f.n), string(f.payload)), nil
	}
}

// SetBrokenClock replaces b's clock.
func SetBrokenClock(b *BrokenCache, now func() time.Time) { b.now = now }
