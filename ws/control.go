package ws

import (
	"bytes"
	"encoding/json"

	"github.com/coder/websocket"
)

// Control is a message of the topic control protocol that clients speak
// when HubOptions.ClientTopics is on (the package doc describes it).
type Control struct {
	// Op is "subscribe" or "unsubscribe" from a client; "subscribed",
	// "unsubscribed" or "error" from the hub.
	Op string `json:"op"`
	// Topic the operation is about.
	Topic string `json:"topic"`
	// Error explains an "error" reply.
	Error string `json:"error,omitempty"`
}

// Control operations.
const (
	OpSubscribe    = "subscribe"
	OpUnsubscribe  = "unsubscribe"
	OpSubscribed   = "subscribed"
	OpUnsubscribed = "unsubscribed"
	OpError        = "error"
)

// control handles a client's control message; false means data is not one
// and goes to OnMessage.
func (c *Conn) control(data []byte) bool {
	m, ok := parseClientControl(data)
	if !ok {
		return false
	}
	h := c.hub
	reply := Control{Topic: m.Topic}
	switch {
	case m.Topic == "":
		reply.Op, reply.Error = OpError, "empty topic"
	case m.Op == OpUnsubscribe:
		h.Unsubscribe(c, m.Topic)
		reply.Op = OpUnsubscribed
	case h.opt.AllowTopic != nil && !h.opt.AllowTopic(c, m.Topic):
		reply.Op, reply.Error = OpError, "topic not allowed"
	default:
		if err := h.Subscribe(c.ctx, c, m.Topic); err != nil {
			reply.Op, reply.Error = OpError, err.Error()
		} else {
			reply.Op = OpSubscribed
		}
	}
	b, _ := json.Marshal(reply)
	c.SendPriority(c.ctx, websocket.MessageText, b)
	return true
}

// parseClientControl recognises a client's subscribe or unsubscribe
// message; anything else (including other JSON) is not a control message.
func parseClientControl(data []byte) (Control, bool) {
	var m Control
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte(`{`)) || !bytes.Contains(data, []byte(`"op"`)) {
		return m, false
	}
	if err := json.Unmarshal(data, &m); err != nil || (m.Op != OpSubscribe && m.Op != OpUnsubscribe) {
		return Control{}, false
	}
	return m, true
}
