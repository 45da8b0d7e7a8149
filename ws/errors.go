package ws

import "errors"

// ErrHubClosed is returned by Publish, Subscribe and Conn.Send once the hub
// is shutting down or closed.
var ErrHubClosed = errors.New("ws: hub closed")

// ErrConnClosed is returned by Conn.Send and Hub.Subscribe for a connection
// that has ended.
var ErrConnClosed = errors.New("ws: connection closed")

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
