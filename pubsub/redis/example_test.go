package redis_test

import (
	"context"
	"errors"
	"log"

	goredis "github.com/redis/go-redis/v9"

	pubsubredis "github.com/wirespeed/wirespeed/pubsub/redis"
)

func Example() {
	client := goredis.NewClient(&goredis.Options{Addr: "localhost:6379"})
	defer client.Close()
	b, err := pubsubredis.New(client, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ctx := context.Background()
	sub, err := b.Subscribe(ctx, "prices", "")
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	_, err = b.Publish(ctx, "prices", []byte(`{"BTC":100}`))
	if errors.Is(err, pubsubredis.ErrLocalOnly) {
		log.Print("redis down: only this instance's subscribers got it")
	} else if err != nil {
		log.Fatal(err)
	}
	m, err := sub.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%s %s", m.ID, m.Data)
}
