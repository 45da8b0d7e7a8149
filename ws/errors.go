package ws

import "errors"

// ErrHubClosed is returned by Publish, Subscribe and Conn.Send once the hub
// is shutting down or closed. An error from Conn.Send that matches it also
// matches ErrConnClosed.
var ErrHubClosed = errors.New("ws: hub closed")

// ErrConnClosed is returned by Conn.Send and Hub.Subscribe for a connection
// that has ended; from Conn.Send it wraps the cause when there is one (a
// write that failed, say).
var ErrConnClosed = errors.New("ws: connection closed")

// ErrInvalidMessage is returned by Conn.Send, SendKeyed and SendPriority
// for a message the WebSocket protocol cannot carry; nothing is queued.
var ErrInvalidMessage = errors.New("ws: invalid message: the type must be websocket.MessageText or MessageBinary, and a text message must be valid UTF-8 (send other bytes as binary)")

// ErrTooManyTopics is returned by Hub.Subscribe for a connection already in
// HubOptions.MaxTopicsPerConn topics; unsubscribe it from one first or
// raise the limit.
var ErrTooManyTopics = errors.New("ws: connection is in too many topics (HubOptions.MaxTopicsPerConn); unsubscribe from one first or raise the limit")

// ErrTopicRefused is wrapped by the error Client.Subscribe returns, and
// the error passed to ClientOptions.OnError, when the hub refused a topic.
var ErrTopicRefused = errors.New("ws: the hub refused the topic")

// ErrDropped is returned by Conn.Send when the queue's DropNewest policy
// refused the message; the connection stays open.
var ErrDropped = errors.New("ws: send queue full, message dropped (policy drop-newest); the client reads slower than messages arrive")

// ErrTooLarge is returned by Conn.Send for a message larger than
// HubOptions.QueueBytes; raise it or send smaller messages.
var ErrTooLarge = errors.New("ws: message larger than the send queue's byte bound; raise HubOptions.QueueBytes")

// ErrSlowConsumer is returned by Conn.Send when the client could not keep up
// under policy Block or Disconnect (or the priority lane was full); the
// connection is being closed.
var ErrSlowConsumer = errors.New("ws: slow consumer disconnected")

// ErrClientClosed is returned by Client methods after Client.Close.
var ErrClientClosed = errors.New("ws: client closed")

// ErrNotConnected is returned by Client.Send while the client is between
// connections; retry after the state returns to StateConnected.
var ErrNotConnected = errors.New("ws: client not connected; wait for StateConnected and retry")
