package sendq_test

import (
	"context"
	"fmt"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

// The quick start of the package documentation: producers push, the
// connection's single writer drains.
func Example_quickStart() {
	ctx := context.Background()
	var wire []string
	write := func(b []byte) { wire = append(wire, string(b)) }
	msg := []byte("tick")

	q, err := sendq.New[[]byte](&sendq.Options{Policy: sendq.DropOldest})
	if err != nil {
		panic(err)
	}
	// producers (hub fan-out, handlers):
	err = q.Push(ctx, sendq.Item[[]byte]{Value: msg, Size: len(msg)})
	fmt.Println("push:", err)
	q.Close() // graceful: what is queued is still delivered
	// the connection's single writer goroutine:
	for {
		it, err := q.Next(ctx)
		if err != nil {
			fmt.Println("next:", err)
			break // ErrClosed after a graceful Close, or the failure cause
		}
		write(it.Value)
	}
	fmt.Println("written:", wire)
	// Output:
	// push: <nil>
	// next: sendq: queue closed
	// written: [tick]
}
