package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wirespeed/wirespeed/wt"
)

// The wt demo is "live cursors" at /cursors/: every visitor's pointer
// over a shared board, and a chat. The page connects with wt.js, over
// WebTransport on the HTTPS port's HTTP/3 listener (run hands the QUIC
// connections to the demo's wt.Server) or over the WebSocket fallback on
// the same URL; a checkbox forces the fallback. Positions go as
// datagrams: the page sends its pointer at most once a frame, and the
// server coalesces every change into one datagram per tick for everyone
// (on the fallback datagrams are reliable and ordered, and the newest
// wins in the bounded queue, so a slow tab gets the latest positions, not
// a backlog). Chat lines go on a reliable bidirectional stream the page
// opens first.

//go:embed wt.html
var cursorsHTML string

var cursorsTmpl = template.Must(template.New("cursors").Parse(cursorsHTML))

const (
	// cursorsTick is how often positions are sent to everyone.
	cursorsTick = 33 * time.Millisecond
	// cursorEntry is one position in a server datagram: id u32, x u16,
	// y u16 (fractions of the board, 0xffff/0xffff: gone).
	cursorEntry = 8
	// cursorsPerDatagram fits the entries in wt's default datagram size.
	cursorsPerDatagram = 1100 / cursorEntry
	// chatMaxRunes bounds a chat line; chatMaxLine bounds what is read
	// for one before the session is closed.
	chatMaxRunes = 280
	chatMaxLine  = 4 << 10
	// chatQueue bounds the chat lines waiting for one visitor's stream;
	// a visitor that falls this far behind is closed with 1013.
	chatQueue = 64
)

type cursorsDemo struct {
	srv  *wt.Server
	stop context.CancelFunc
	wg   sync.WaitGroup // joins the ticker

	mu     sync.Mutex // protects the fields below
	peers  map[uint32]*cursorPeer
	pos    map[uint32][2]uint16
	dirty  map[uint32]bool // changed since the last tick (gone when not in pos)
	nextID uint32

	positionsIn, datagramsOut, chatLines atomic.Int64
}

type cursorPeer struct {
	s    wt.Session
	chat chan string
	full atomic.Bool   // the chat queue overflowed
	kick chan struct{} // closed when full is set: the writer closes the session
}

// cursorsStats is what the page shows for the demo.
type cursorsStats struct {
	Visitors     int      `json:"visitors"`
	PositionsIn  int64    `json:"positions_in"`
	DatagramsOut int64    `json:"datagrams_out"`
	ChatLines    int64    `json:"chat_lines"`
	Server       wt.Stats `json:"server"`
}

func setupWT(ctx context.Context, sc *showcase) error {
	d := &cursorsDemo{peers: map[uint32]*cursorPeer{}, pos: map[uint32][2]uint16{}, dirty: map[uint32]bool{}}
	srv, err := wt.NewServer(d.serve, &wt.ServerOptions{MaxSessions: 200, MaxSessionsPerIP: 20})
	if err != nil {
		return err
	}
	d.srv = srv
	sc.wt = srv
	tctx, stop := context.WithCancel(ctx)
	d.stop = stop
	d.wg.Go(func() { d.ticker(tctx) })

	sc.mux.Handle("/cursors/wt", srv)
	sc.mux.Handle("GET /cursors/wt.js", wt.Script)
	sc.mux.HandleFunc("GET /cursors/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// A development certificate is accepted by WebTransport through
		// serverCertificateHashes; a trusted one (-cert) needs none.
		hash := ""
		if sc.spki != "" {
			hash = sc.certHash
		}
		cursorsTmpl.Execute(w, struct{ CertHash string }{hash})
	})
	sc.add(demo{
		Name:  "wt",
		Title: "live cursors (WebTransport with a WebSocket fallback)",
		Summary: "Open /cursors/ in two tabs: pointers move as datagrams, coalesced by the server into one datagram per tick, and chat goes on a reliable stream; " +
			"the page says whether it got WebTransport (HTTP/3 on this port) or the WebSocket fallback, and why, and a checkbox forces the fallback.",
		Try:   []link{{"open the live cursors page", "/cursors/"}},
		Stats: func() any { return d.stats() },
		Live: []liveSeries{
			{Key: "visitors", Label: "visitors"},
			{Key: "datagrams_out", Label: "datagrams out/s", Rate: true},
		},
		Close: d.close,
	})
	return nil
}

func (d *cursorsDemo) stats() cursorsStats {
	d.mu.Lock()
	n := len(d.peers)
	d.mu.Unlock()
	return cursorsStats{Visitors: n, PositionsIn: d.positionsIn.Load(), DatagramsOut: d.datagramsOut.Load(), ChatLines: d.chatLines.Load(), Server: d.srv.Stats()}
}

// close ends the sessions and the ticker. run has already drained the
// servers, which shut the wt.Server down (RegisterOnShutdown).
func (d *cursorsDemo) close() {
	d.srv.Close()
	d.stop()
	d.wg.Wait()
}

// serve runs one visitor: datagrams in, the chat stream both ways.
func (d *cursorsDemo) serve(ctx context.Context, s wt.Session) {
	p := &cursorPeer{s: s, chat: make(chan string, chatQueue), kick: make(chan struct{})}
	d.mu.Lock()
	d.nextID++
	id := d.nextID
	d.peers[id] = p
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.peers, id)
		if _, ok := d.pos[id]; ok {
			delete(d.pos, id)
			d.dirty[id] = true
		}
		d.mu.Unlock()
	}()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { d.readPositions(ctx, id, s) })
	st, err := s.AcceptStream(ctx)
	if err != nil {
		return
	}
	wg.Go(func() {
		defer st.Close()
		for {
			select {
			case line := <-p.chat:
				st.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := st.Write([]byte(line + "\n")); err != nil {
					s.Close(wt.CodeTryAgainLater, "chat stream not read")
					return
				}
			case <-p.kick:
				s.Close(wt.CodeTryAgainLater, "too far behind the chat")
				return
			case <-ctx.Done():
				return
			}
		}
	})
	d.send(p, fmt.Sprintf("you are #%d, over %v", id, s.Transport()))
	d.broadcast(fmt.Sprintf("#%d joined over %v", id, s.Transport()))
	sc := bufio.NewScanner(st)
	sc.Buffer(make([]byte, 0, 512), chatMaxLine)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" || !utf8.ValidString(text) {
			continue
		}
		if utf8.RuneCountInString(text) > chatMaxRunes {
			text = string([]rune(text)[:chatMaxRunes]) + "…"
		}
		d.chatLines.Add(1)
		d.broadcast(fmt.Sprintf("#%d: %s", id, text))
	}
	if sc.Err() == bufio.ErrTooLong {
		s.Close(wt.CodeMessageTooBig, "chat line too long")
		return
	}
	s.Close(wt.CodeNormal, "")
}

// readPositions takes the visitor's pointer: x and y as u16 fractions.
func (d *cursorsDemo) readPositions(ctx context.Context, id uint32, s wt.Session) {
	for {
		b, err := s.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		if len(b) != 4 {
			continue // not a position; datagrams carry nothing else
		}
		xy := [2]uint16{binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])}
		if xy == [2]uint16{0xffff, 0xffff} {
			continue // the "gone" marker is the server's
		}
		d.positionsIn.Add(1)
		d.mu.Lock()
		if _, ok := d.peers[id]; ok {
			d.pos[id] = xy
			d.dirty[id] = true
		}
		d.mu.Unlock()
	}
}

// broadcast queues a chat line for every visitor; one whose queue is
// full is closed rather than holding the others back.
func (d *cursorsDemo) broadcast(line string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.peers {
		d.send(p, line)
	}
}

func (d *cursorsDemo) send(p *cursorPeer, line string) {
	select {
	case p.chat <- line:
	default:
		if p.full.CompareAndSwap(false, true) {
			close(p.kick)
		}
	}
}

// ticker sends the positions that changed since the last tick to every
// visitor, and everyone's to a visitor that just joined (it gets all).
func (d *cursorsDemo) ticker(ctx context.Context) {
	t := time.NewTicker(cursorsTick)
	defer t.Stop()
	known := map[*cursorPeer]bool{}
	var peers []*cursorPeer
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		d.mu.Lock()
		changed := encodeCursors(d.pos, d.dirty)
		clear(d.dirty)
		var all [][]byte
		peers = peers[:0]
		for _, p := range d.peers {
			peers = append(peers, p)
			if !known[p] && all == nil {
				all = encodeCursors(d.pos, nil)
			}
		}
		d.mu.Unlock()
		seen := make(map[*cursorPeer]bool, len(peers))
		for _, p := range peers {
			seen[p] = true
			out := changed
			if !known[p] {
				out = all
			}
			for _, b := range out {
				if p.s.SendDatagram(b) == nil {
					d.datagramsOut.Add(1)
				}
			}
		}
		known = seen
	}
}

// encodeCursors encodes the positions of the ids in dirty (every
// position when dirty is nil; an id in dirty but not in pos is gone) in
// datagrams of at most cursorsPerDatagram entries.
func encodeCursors(pos map[uint32][2]uint16, dirty map[uint32]bool) [][]byte {
	var out [][]byte
	var b []byte
	add := func(id uint32, xy [2]uint16) {
		if len(b) == cursorsPerDatagram*cursorEntry {
			out = append(out, b)
			b = nil
		}
		b = binary.BigEndian.AppendUint32(b, id)
		b = binary.BigEndian.AppendUint16(b, xy[0])
		b = binary.BigEndian.AppendUint16(b, xy[1])
	}
	if dirty == nil {
		for id, xy := range pos {
			add(id, xy)
		}
	} else {
		for id := range dirty {
			xy, ok := pos[id]
			if !ok {
				xy = [2]uint16{0xffff, 0xffff}
			}
			add(id, xy)
		}
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}
