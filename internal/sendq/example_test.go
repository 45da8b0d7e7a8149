package sendq_test

import (
	"context"
	"fmt"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

func Example() {
	q, _ := sendq.New[string](&sendq.Options{Policy: sendq.CoalesceByKey, MaxMessages: 2})
	ctx := context.Background()
	_ = q.Push(ctx, sendq.Item[string]{Value: "BTC 100", Key: "BTC"})
	_ = q.Push(ctx, sendq.Item[string]{Value: "ETH 10", Key: "ETH"})
	_ = q.Push(ctx, sendq.Item[string]{Value: "BTC 101", Key: "BTC"}) // replaces BTC 100
	_ = q.Push(ctx, sendq.Item[string]{Value: "order 7 filled", Priority: true})
	q.Close()
	for {
		it, err := q.Next(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(it.Value)
	}
	// Output:
	// order 7 filled
	// BTC 101
	// ETH 10
	// sendq: queue closed
}
