package pubsub_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/wirespeed/wirespeed/pubsub"
)

// The quick start of the package documentation.
func Example() {
	ctx := context.Background()
	b, _ := pubsub.NewMemory(nil)
	defer b.Close()
	sub, _ := b.Subscribe(ctx, "prices", "") // live only
	defer sub.Close()
	id, _ := b.Publish(ctx, "prices", []byte(`{"BTC":100}`))
	msg, _ := sub.Next(ctx) // msg.ID == id
	fmt.Println(msg.Topic, string(msg.Data), msg.ID == id)
	// Output: prices {"BTC":100} true
}

// Messages arrive in publish order.
func ExampleBroker() {
	ctx := context.Background()
	b, _ := pubsub.NewMemory(nil)
	defer b.Close()

	sub, _ := b.Subscribe(ctx, "chat", "") // live only
	defer sub.Close()
	_, _ = b.Publish(ctx, "chat", []byte("hello"))
	_, _ = b.Publish(ctx, "chat", []byte("world"))
	for range 2 {
		m, _ := sub.Next(ctx)
		fmt.Println(m.Topic, string(m.Data))
	}
	// Output:
	// chat hello
	// chat world
}

// An SSE server resumes a client from its Last-Event-ID.
func ExampleBroker_resume() {
	ctx := context.Background()
	b, _ := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: 3})
	defer b.Close()

	var ids []string
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		id, _ := b.Publish(ctx, "news", []byte(s))
		ids = append(ids, id)
	}

	// The client saw "c": it gets "d" and "e", nothing lost.
	sub, _ := b.Subscribe(ctx, "news", ids[2])
	fmt.Println("lost:", sub.Lost())
	for range 2 {
		m, _ := sub.Next(ctx)
		fmt.Println(string(m.Data))
	}
	sub.Close()

	// The client saw only "a": "b" is no longer retained.
	sub, _ = b.Subscribe(ctx, "news", ids[0])
	fmt.Println("lost:", sub.Lost())
	sub.Close()
	// Output:
	// lost: false
	// d
	// e
	// lost: true
}

// A subscriber that falls behind the history is told so and goes on.
func ExampleLagError() {
	ctx := context.Background()
	b, _ := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: 2})
	defer b.Close()
	sub, _ := b.Subscribe(ctx, "ticks", "")
	defer sub.Close()
	for i := range 5 {
		_, _ = b.Publish(ctx, "ticks", fmt.Append(nil, i))
	}
	for range 3 {
		m, err := sub.Next(ctx)
		var lag *pubsub.LagError
		if errors.As(err, &lag) {
			fmt.Println("missed", lag.Missed)
			continue
		}
		fmt.Println(string(m.Data))
	}
	// Output:
	// missed 3
	// 3
	// 4
}
