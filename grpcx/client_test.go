package grpcx_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
)

func TestAllFourKinds(t *testing.T) {
	srv := startServer(t, nil)
	c := newClient(t, srv.addr, nil)
	cat := catalogpb.NewCatalogClient(c)
	ctx := ctxT(t)

	it, err := cat.Get(ctx, &catalogpb.GetRequest{Id: "item-00007"})
	if err != nil || it.GetName() != "Widget 7" {
		t.Fatalf("Get = %v, %v", it, err)
	}
	ls, err := cat.List(ctx, &catalogpb.ListRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if n := drainList(t, ls); n != 10 {
		t.Fatalf("List streamed %d items, want 10", n)
	}
	up, err := cat.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := up.Send(&catalogpb.Item{Id: fmt.Sprintf("new-%d", i), Payload: make([]byte, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := up.CloseAndRecv()
	if err != nil || sum.GetItems() != 5 || sum.GetPayloadBytes() != 500 {
		t.Fatalf("Upload = %v, %v", sum, err)
	}
	ch, err := cat.Chat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := ch.Send(&catalogpb.ChatMessage{Seq: int64(i), Text: "hi"}); err != nil {
			t.Fatal(err)
		}
		m, err := ch.Recv()
		if err != nil || m.GetSeq() != int64(i) || m.GetText() != "echo: hi" {
			t.Fatalf("Chat = %v, %v", m, err)
		}
	}
	ch.CloseSend()
	if _, err := ch.Recv(); err != io.EOF {
		t.Fatalf("Chat end = %v", err)
	}

	cs := c.Stats()
	if cs.InFlight != 0 || len(cs.Methods) != 4 {
		t.Fatalf("client stats: %+v", cs)
	}
	ss := srv.Stats()
	// The one RPC in flight is the client's health Watch stream.
	if ss.InFlight != 1 || len(ss.Methods) != 4 {
		t.Fatalf("server stats: %+v", ss)
	}
	for _, m := range ss.Methods {
		if m.Method == "/wirespeed.catalog.v1.Catalog/List" && (m.Streams != 1 || m.MessagesSent != 10 || m.MessagesReceived != 1) {
			t.Errorf("List stats: %+v", m)
		}
		if m.Method == "/wirespeed.catalog.v1.Catalog/Chat" && (m.MessagesSent != 3 || m.MessagesReceived != 3) {
			t.Errorf("Chat stats: %+v", m)
		}
	}
	if len(ss.RPCs) != 4 || ss.RPCs[0].Peer != "127.0.0.1" {
		t.Errorf("server RPCs: %+v", ss.RPCs)
	}
	if len(cs.Conns) != 1 || cs.Conns[0].MaxStreams != 100 {
		t.Errorf("client conns: %+v", cs.Conns)
	}
}
