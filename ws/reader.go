package ws

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// readLoop is the connection's reader goroutine. Its deferred call ends
// the connection whichever way reading stopped, including a
// runtime.Goexit in a callback (which callback has counted, and which has
// started a close with 1011 that drain completes).
func (c *Conn) readLoop() {
	defer c.hub.core.WG.Done()
	var failed error
	defer func() {
		if failed != nil {
			c.readFailed(failed)
		} else {
			c.drain()
		}
		c.ws.CloseNow()
		c.cleanup()
	}()
	failed = c.read()
}

// read runs OnConnect, then reads messages into OnMessage until a read
// fails (the error) or the hub starts closing a sound connection (nil):
// invalid UTF-8, or a callback that panicked.
func (c *Conn) read() error {
	h := c.hub
	if h.opt.OnConnect != nil && !c.callback(func() { h.opt.OnConnect(c.ctx, c) }) {
		return nil
	}
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return err
		}
		h.st.msgsIn.Add(1)
		h.st.bytesIn.Add(uint64(len(data)))
		if typ == websocket.MessageText && !utf8.Valid(data) {
			c.setReason(ReasonInvalidUTF8)
			c.closeWith(websocket.StatusInvalidFramePayloadData, "invalid UTF-8 in text message")
			return nil
		}
		if h.opt.ClientTopics && typ == websocket.MessageText {
			if handled, ok := c.control(data); !ok {
				return nil
			} else if handled {
				continue
			}
		}
		if h.opt.OnMessage != nil && !c.callback(func() { h.opt.OnMessage(c.ctx, c, typ, data) }) {
			return nil
		}
	}
}

// drain completes a close the hub started while the connection is sound
// (invalid UTF-8): the reader must keep reading while the writer closes,
// or the close handshake cannot complete. It reads until the writer is
// gone.
func (c *Conn) drain() {
	c.q.Close()
	c.kick()
	for {
		select {
		case <-c.writerDone:
			return
		default:
		}
		if _, _, err := c.ws.Read(c.ctx); err != nil {
			// The handshake is over or cannot finish: end the writer,
			// even inside a Close waiting for it.
			c.cancel()
			c.ws.CloseNow()
			<-c.writerDone
			return
		}
	}
}

// readFailed ends the connection after a read failed; nothing more is
// read from the client. A client that broke the protocol gets its close
// frame (1002, or 1009 for a message over ReadLimit, which coder/websocket
// has sent already) and the TCP connection is closed at once, without
// waiting for a close handshake the peer may never finish.
func (c *Conn) readFailed(err error) {
	switch {
	case websocket.CloseStatus(err) != -1:
		// The client's close frame: coder/websocket has answered it and
		// closed the connection (or a Close of ours in progress will).
		c.setReason(ReasonClient)
	case c.ctx.Err() != nil:
		// The hub ended the connection, with its reason.
	case isReadLimit(err):
		c.setReason(ReasonTooBig)
		c.failClose(websocket.StatusMessageTooBig, "")
	case isIOError(err):
		// The connection failed or the peer went away: nothing to say.
	default:
		c.setReason(ReasonProtocol)
		c.failClose(websocket.StatusProtocolError, "protocol error")
	}
	c.cancel()
	c.ws.CloseNow()
	c.q.CloseWithError(fmt.Errorf("read: %w", err))
	c.kick() // a writer ends now (or starts to end at once)
	<-c.writerDone
}

// failClose sends a close frame with code, unless coder/websocket sent
// one already for the error it found, and closes the connection. Reads
// are made to fail first: Close would otherwise parse what the peer sent
// after the bad frame and wait up to 5s for its close frame. Only bytes
// already buffered are looked at, and since the close frame goes first
// nothing is answered.
func (c *Conn) failClose(code websocket.StatusCode, reason string) {
	c.cork.stop(time.Now().Add(closeFlushTimeout))
	c.ws.Close(code, reason)
}

// isIOError reports whether a read failed in the transport rather than
// in the WebSocket protocol.
func isIOError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

func (c *Conn) cleanup() {
	h := c.hub
	c.cancel()
	h.core.Mu.Lock()
	for t := range c.topics {
		h.unsubscribeLocked(c, t)
	}
	h.core.RemoveLocked(c, c.ip)
	h.core.Mu.Unlock()
	c.mu.Lock()
	r := c.reason
	if r == "" {
		r = ReasonError
	}
	c.mu.Unlock()
	h.core.Counters.ClosedBy(string(r))
	defer close(c.ended) // also after a runtime.Goexit in OnClose
	if h.opt.OnClose != nil {
		h.core.Recover(func() { h.opt.OnClose(c, r) })
	}
}
