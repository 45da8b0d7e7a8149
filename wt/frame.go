package wt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Subprotocol is the WebSocket subprotocol of the fallback's wire format,
// version 1; a client that offers no version the server speaks is
// refused before the upgrade.
const Subprotocol = "wirespeed-wt.v1"

// Frame types of the fallback wire format (see the package doc).
const (
	frameHello       = 0x00
	frameOpen        = 0x01
	frameData        = 0x02
	frameFin         = 0x03
	frameReset       = 0x04
	frameStopSending = 0x05
	frameCredit      = 0x06
	frameMaxStreams  = 0x07
	frameDatagram    = 0x08
	frameClose       = 0x09
)

// Stream ID bits: bit 0 is the initiator, bit 1 the direction.
const (
	idServer = 1 << 0
	idUni    = 1 << 1
)

// errProtocol is wrapped by every decoding error; the session closes with
// CodeProtocolError.
var errProtocol = errors.New("wt: fallback protocol violation")

// frame is one decoded fallback frame. payload aliases the message.
type frame struct {
	typ     byte
	id      uint32 // OPEN, DATA, FIN, RESET, STOP_SENDING, CREDIT
	n       uint32 // RESET/STOP_SENDING/CLOSE code, CREDIT increment, MAX_STREAMS count
	kind    byte   // MAX_STREAMS: 0 bidirectional, 1 unidirectional
	hello   hello
	payload []byte // DATA, DATAGRAM, CLOSE reason
}

// hello is what each side announces in its first frame.
type hello struct {
	maxBidi, maxUni uint32 // streams the peer may have open towards us
	window          uint32 // initial per-stream credit we give
	maxFrame        uint32 // largest DATA payload we accept
	maxDatagram     uint32 // largest DATAGRAM payload we accept
}

const helloLen = 1 + 5*4

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errProtocol}, args...)...)
}

// parseFrame decodes one message. It checks lengths and fixed fields;
// what depends on the session's state (stream IDs, credit) is checked by
// the session.
func parseFrame(b []byte, maxFrame, maxDatagram int) (frame, error) {
	var f frame
	if len(b) == 0 {
		return f, protoErr("empty message")
	}
	f.typ = b[0]
	p := b[1:]
	need := func(n int) error {
		if len(p) != n {
			return protoErr("frame type %#x is %d bytes, want %d", f.typ, len(b), n+1)
		}
		return nil
	}
	switch f.typ {
	case frameHello:
		if err := need(helloLen - 1); err != nil {
			return f, err
		}
		f.hello = hello{
			maxBidi:     binary.BigEndian.Uint32(p),
			maxUni:      binary.BigEndian.Uint32(p[4:]),
			window:      binary.BigEndian.Uint32(p[8:]),
			maxFrame:    binary.BigEndian.Uint32(p[12:]),
			maxDatagram: binary.BigEndian.Uint32(p[16:]),
		}
		if f.hello.window == 0 || f.hello.maxFrame == 0 {
			return f, protoErr("hello with a zero window or frame size")
		}
	case frameOpen, frameFin:
		if err := need(4); err != nil {
			return f, err
		}
		f.id = binary.BigEndian.Uint32(p)
	case frameData:
		if len(p) < 4 {
			return f, protoErr("short DATA frame")
		}
		f.id = binary.BigEndian.Uint32(p)
		f.payload = p[4:]
		if len(f.payload) > maxFrame {
			return f, fmt.Errorf("%w: DATA payload of %d bytes above the maximum %d", errTooBig, len(f.payload), maxFrame)
		}
	case frameReset, frameStopSending, frameCredit:
		if err := need(8); err != nil {
			return f, err
		}
		f.id = binary.BigEndian.Uint32(p)
		f.n = binary.BigEndian.Uint32(p[4:])
		if f.typ == frameCredit && f.n == 0 {
			return f, protoErr("CREDIT of zero")
		}
	case frameMaxStreams:
		if err := need(5); err != nil {
			return f, err
		}
		f.kind = p[0]
		f.n = binary.BigEndian.Uint32(p[1:])
		if f.kind > 1 {
			return f, protoErr("MAX_STREAMS kind %d", f.kind)
		}
	case frameDatagram:
		f.payload = p
		if len(p) > maxDatagram {
			return f, fmt.Errorf("%w: datagram of %d bytes above the maximum %d", errTooBig, len(p), maxDatagram)
		}
	case frameClose:
		if len(p) < 4 {
			return f, protoErr("short CLOSE frame")
		}
		f.n = binary.BigEndian.Uint32(p)
		f.payload = p[4:]
		if len(f.payload) > MaxReasonLen || !utf8.Valid(f.payload) {
			return f, protoErr("CLOSE reason longer than %d bytes or not UTF-8", MaxReasonLen)
		}
	default:
		return f, protoErr("unknown frame type %#x", f.typ)
	}
	return f, nil
}

// errTooBig is wrapped for frames above the negotiated sizes; the session
// closes with CodeMessageTooBig.
var errTooBig = errors.New("wt: fallback frame too large")

func appendHello(b []byte, h hello) []byte {
	b = append(b, frameHello)
	b = binary.BigEndian.AppendUint32(b, h.maxBidi)
	b = binary.BigEndian.AppendUint32(b, h.maxUni)
	b = binary.BigEndian.AppendUint32(b, h.window)
	b = binary.BigEndian.AppendUint32(b, h.maxFrame)
	return binary.BigEndian.AppendUint32(b, h.maxDatagram)
}

func appendIDFrame(b []byte, typ byte, id uint32) []byte {
	return binary.BigEndian.AppendUint32(append(b, typ), id)
}

func appendIDCodeFrame(b []byte, typ byte, id, n uint32) []byte {
	return binary.BigEndian.AppendUint32(appendIDFrame(b, typ, id), n)
}

func appendMaxStreams(b []byte, kind byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32(append(b, frameMaxStreams, kind), n)
}

func appendClose(b []byte, code SessionErrorCode, reason string) []byte {
	b = binary.BigEndian.AppendUint32(append(b, frameClose), uint32(code))
	return append(b, cutReason(reason)...)
}
