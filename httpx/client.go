package httpx

import "net/http"

// Client is an *http.Client whose Transport is a [Transport]: use it as
// any http.Client (Get, Do, …; set Timeout for an overall bound), read
// Stats, and Close it when the program no longer needs it. Create one and
// share it; it is safe for concurrent use.
type Client struct {
	*http.Client
	t *Transport
}

// NewClient returns a Client on a new Transport configured by opts (nil
// means all defaults). Its Timeout is 0: every phase before the body is
// bounded by the options, and the body takes as long as the caller's
// context allows.
func NewClient(opts *Options) (*Client, error) {
	t, err := NewTransport(opts)
	if err != nil {
		return nil, err
	}
	return &Client{Client: &http.Client{Transport: t}, t: t}, nil
}

// Stats returns the statistics of the Client's Transport.
func (c *Client) Stats() Stats { return c.t.Stats() }

// Close closes the Client's Transport; see [Transport.Close].
func (c *Client) Close() error { return c.t.Close() }
