package catalogpb

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DemoMaxItems bounds what Upload may add to a [Demo]: past it, Upload
// fails with RESOURCE_EXHAUSTED.
const DemoMaxItems = 100_000

// Demo is an in-memory CatalogServer. Its zero value is not usable: call
// [NewDemo]. It is safe for concurrent use.
type Demo struct {
	UnimplementedCatalogServer

	mu    sync.RWMutex
	items map[string]*Item
	ids   []string // sorted
}

// NewDemo returns a Demo holding n generated items with IDs "item-00001"
// onwards.
func NewDemo(n int) *Demo {
	d := &Demo{items: make(map[string]*Item, n)}
	for i := 1; i <= n; i++ {
		it := DemoItem(i)
		d.items[it.Id] = it
		d.ids = append(d.ids, it.Id)
	}
	slices.Sort(d.ids)
	return d
}

// DemoItem returns the i-th generated item, a typical catalog record.
func DemoItem(i int) *Item {
	return &Item{
		Id:          fmt.Sprintf("item-%05d", i),
		Name:        fmt.Sprintf("Widget %d", i),
		Description: "A sturdy widget for everyday connection-optimization needs.",
		PriceCents:  int64(199 + i%5000),
		Tags:        []string{"demo", "widget", fmt.Sprintf("size-%d", i%7)},
		Stock:       int32(i % 1000),
	}
}

// Get returns the item with the requested ID.
func (d *Demo) Get(_ context.Context, req *GetRequest) (*Item, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "catalog: id is empty")
	}
	d.mu.RLock()
	it := d.items[req.GetId()]
	d.mu.RUnlock()
	if it == nil {
		return nil, status.Errorf(codes.NotFound, "catalog: no item %q", truncate(req.GetId()))
	}
	return it, nil
}

// List streams the items whose ID starts with the prefix, in ID order.
func (d *Demo) List(req *ListRequest, stream Catalog_ListServer) error {
	if req.GetLimit() < 0 {
		return status.Error(codes.InvalidArgument, "catalog: limit is negative")
	}
	d.mu.RLock()
	var page []*Item
	for _, id := range d.ids {
		if strings.HasPrefix(id, req.GetPrefix()) {
			page = append(page, d.items[id])
			if req.GetLimit() > 0 && len(page) == int(req.GetLimit()) {
				break
			}
		}
	}
	d.mu.RUnlock()
	for _, it := range page {
		if err := stream.Send(it); err != nil {
			return err
		}
	}
	return nil
}

// Upload stores the items it receives (without their payloads, which it
// only counts) and reports how many it stored.
func (d *Demo) Upload(stream Catalog_UploadServer) error {
	var sum UploadSummary
	for {
		it, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&sum)
		}
		if err != nil {
			return err
		}
		if it.GetId() == "" {
			return status.Error(codes.InvalidArgument, "catalog: an uploaded item has no id")
		}
		sum.PayloadBytes += int64(len(it.GetPayload()))
		stored := &Item{Id: it.Id, Name: it.Name, Description: it.Description, PriceCents: it.PriceCents, Tags: it.Tags, Stock: it.Stock}
		d.mu.Lock()
		if _, ok := d.items[it.Id]; !ok {
			if len(d.items) >= DemoMaxItems {
				d.mu.Unlock()
				return status.Errorf(codes.ResourceExhausted, "catalog: full (%d items)", DemoMaxItems)
			}
			i, _ := slices.BinarySearch(d.ids, it.Id)
			d.ids = slices.Insert(d.ids, i, it.Id)
		}
		d.items[it.Id] = stored
		d.mu.Unlock()
		sum.Items++
	}
}

// Chat answers each message with "echo: " and its text, keeping its
// sequence number.
func (d *Demo) Chat(stream Catalog_ChatServer) error {
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&ChatMessage{Seq: m.GetSeq(), Text: "echo: " + m.GetText()}); err != nil {
			return err
		}
	}
}

// truncate keeps client input echoed in errors short.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
