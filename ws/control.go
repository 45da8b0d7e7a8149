package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

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

// MaxTopicLen is the longest topic name a client may send in a control
// message; a longer one is refused without being echoed.
const MaxTopicLen = 256

// control handles a client's control message; handled false means data
// is not one and goes to OnMessage, ok false that AllowTopic panicked and
// c is closing.
func (c *Conn) control(data []byte) (handled, ok bool) {
	m, isControl := parseClientControl(data)
	if !isControl {
		return false, true
	}
	h := c.hub
	reply := Control{Topic: m.Topic}
	switch {
	case m.Topic == "":
		reply.Op, reply.Error = OpError, "empty topic"
	case len(m.Topic) > MaxTopicLen:
		reply.Topic = ""
		reply.Op, reply.Error = OpError, fmt.Sprintf("topic name longer than %d bytes", MaxTopicLen)
	case m.Op == OpUnsubscribe:
		h.Unsubscribe(c, m.Topic)
		reply.Op = OpUnsubscribed
	case !c.topicAllowed(m.Topic, &ok):
		if !ok {
			return true, false
		}
		reply.Op, reply.Error = OpError, "topic not allowed"
	default:
		switch err := h.Subscribe(c.ctx, c, m.Topic); {
		case err == nil:
			reply.Op = OpSubscribed
		case errors.Is(err, ErrTooManyTopics):
			reply.Op, reply.Error = OpError, fmt.Sprintf("too many topics on this connection (limit %d); unsubscribe from one first", h.opt.MaxTopicsPerConn)
		default:
			reply.Op, reply.Error = OpError, err.Error()
		}
	}
	b, _ := json.Marshal(reply)
	c.SendPriority(c.ctx, websocket.MessageText, b)
	return true, true
}

// topicAllowed reports whether c's client may subscribe itself to topic:
// PublicTopics, then AllowTopic; nothing else is. *ok is set false when
// AllowTopic panicked (c is closing).
func (c *Conn) topicAllowed(topic string, ok *bool) bool {
	h := c.hub
	*ok = true
	if _, public := h.public[topic]; public {
		return true
	}
	if h.opt.AllowTopic == nil {
		return false
	}
	var allowed bool
	*ok = c.callback(func() { allowed = h.opt.AllowTopic(c, topic) })
	return allowed
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
