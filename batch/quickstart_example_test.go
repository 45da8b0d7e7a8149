package batch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wirespeed/wirespeed/batch"
)

type User struct{ ID, Name string }

// userDB stands in for a database: it counts the queries it answers.
type userDB struct{ queries int }

func (db *userDB) User(ctx context.Context, tenant, id string) (*User, error) {
	db.queries++
	return &User{ID: id, Name: "user " + id + " of " + tenant}, nil
}

func (db *userDB) UsersByID(ctx context.Context, ids []string) (map[string]*User, error) {
	db.queries++
	out := make(map[string]*User, len(ids))
	for _, id := range ids {
		out[id] = &User{ID: id, Name: "user " + id}
	}
	return out, nil
}

// The quick start of the package documentation: one call per key for
// concurrent callers, batched lookups, and a bulk endpoint.
func Example_quickStart() {
	ctx := context.Background()
	db := &userDB{}
	tenant, id := "acme", "42"
	mux := http.NewServeMux()

	var users batch.Group[string, *User]
	u, err, _ := users.Do(ctx, tenant+"/"+id, func(ctx context.Context) (*User, error) {
		return db.User(ctx, tenant, id) // one query, however many callers
	})
	fmt.Println(u.Name, err)

	loader, _ := batch.NewLoader(batch.MapFetch(db.UsersByID), nil)
	defer loader.Close()
	u, err = loader.Load(ctx, id) // batched with other callers' ids
	fmt.Println(u.Name, err, "queries:", db.queries)

	h, _ := batch.NewBulkHandler(createOrder, &batch.BulkOptions{SuccessStatus: http.StatusCreated})
	mux.Handle("POST /orders/bulk", h)

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/orders/bulk", "application/json", strings.NewReader(`[{"sku":"a","qty":1},{"sku":"b","qty":2}]`))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, strings.Count(string(body), `"status":201`), "created")
	// Output:
	// user 42 of acme <nil>
	// user 42 <nil> queries: 2
	// 200 OK 2 created
}
