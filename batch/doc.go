// Package batch cuts round trips: it coalesces identical concurrent calls,
// batches the keys of many callers into one fetch, and serves bulk
// endpoints that report success or failure per item.
//
// Three tools, one per kind of redundancy:
//
//   - [Group] runs one call for every concurrent caller with the same key
//     (a cache miss storm becomes one backend call). It is
//     x/sync/singleflight with generics and contexts: each caller's context
//     bounds only its own wait, and the shared call is cancelled only when
//     every caller has left.
//   - [Loader] (and [ScopedLoader]) collect the keys asked for within a
//     short window into one fetch: the DataLoader pattern.
//   - [BulkHandler] accepts an array of items in one request and answers
//     with a result or a problem per item; [BulkClient] splits a long list
//     into such requests.
//
// # Quick start
//
//	var users batch.Group[string, *User]
//	u, err, _ := users.Do(ctx, tenant+"/"+id, func(ctx context.Context) (*User, error) {
//		return db.User(ctx, tenant, id) // one query, however many callers
//	})
//
//	loader, _ := batch.NewLoader(batch.MapFetch(db.UsersByID), nil)
//	defer loader.Close()
//	u, err = loader.Load(ctx, id) // batched with other callers' ids
//
//	h, _ := batch.NewBulkHandler(createOrder, &batch.BulkOptions{SuccessStatus: http.StatusCreated})
//	mux.Handle("POST /orders/bulk", h)
//
// # Contexts
//
// A shared call serves callers with different contexts, so it never runs
// under any one of them. A [Group] call runs under a context that carries
// no caller's values (GroupOptions.BaseContext can change that) and is
// cancelled, with cause [ErrAbandoned], once every waiting caller has left.
// A [Loader] fetch runs under the loader's context (LoaderOptions.Context)
// with its own timeout. This is what graph-gophers/dataloader and
// vikstrous/dataloadgen do not do: they run a batch under the first caller's
// context, so that caller's cancellation fails everyone's keys and its
// credentials serve everyone's.
//
// # Keys and tenants
//
// Coalescing hands one caller's result to another. When a result depends on
// who asks, the key must say who asks: put the user or tenant in a [Group]
// key, use a [ScopedLoader] scoped by tenant or credentials, and set
// BulkOptions.IdempotencyScope.
//
// # Failures
//
// A panic in a function the package runs is recovered and reaches every
// waiter as a [*PanicError] with the stack; a runtime.Goexit reaches them as
// [ErrGoexit]. Neither crashes the process, leaves a caller waiting or
// wedges later calls for the key; in a [BulkHandler] either fails only its
// item (500). A fetch function that returns
// slices of the wrong length fails each key with an error wrapping
// [ErrBadFetch] instead of misaligning values. A bad bulk request gets a
// 4xx with a short problem details body (RFC 9457); see [BulkHandler] for
// the statuses.
//
// # Limits
//
// A [BulkHandler] bounds what a client can make it hold: the body
// (BulkOptions.MaxBytes, 1 MiB; its buffer grows as bytes arrive, never to
// a declared Content-Length), the items (MaxItems, 1000), and the time the
// body may take to arrive (BodyTimeout, 30s, answered 408, even on a server
// without a ReadTimeout).
//
// # Goroutines
//
// A [Group] call whose starter can be cancelled runs on a goroutine of its
// own that ends when the function returns. A [Loader] runs each fetch on a
// goroutine of its own; [Loader.Close] waits for them. A [BulkHandler] runs
// items on workers of its own, never on the handler's goroutine; it and a
// [BulkClient] join their workers before returning. Nothing runs in the
// background while idle.
package batch
