package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wirespeed/wirespeed/batch"
)

type order struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

type created struct {
	ID  string `json:"id"`
	SKU string `json:"sku"`
}

// createOrder fails items the way an application would: a *Problem for a
// client error, a plain error for an internal one, and a panic for a bug.
func createOrder(_ context.Context, o order) (created, error) {
	switch {
	case o.SKU == "":
		return created{}, batch.NewProblem(http.StatusUnprocessableEntity, "sku is required")
	case o.SKU == "panic":
		panic("bug in createOrder")
	case o.Qty < 0:
		return created{}, errors.New("db: password=hunter2 connection refused")
	}
	return created{ID: "ord-" + o.SKU, SKU: o.SKU}, nil
}

func newBulk(t *testing.T, fn func(context.Context, order) (created, error), opts *batch.BulkOptions) *batch.BulkHandler[order, created] {
	t.Helper()
	h, err := batch.NewBulkHandler(fn, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func serve(h http.Handler, contentType, body string, header ...string) response {
	req := httptest.NewRequest(http.MethodPost, "/orders/bulk", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.Bytes()}
}

func decodeBulk(t *testing.T, r response) batch.BulkResponse[created] {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q; body %s", ct, r.body)
	}
	var br batch.BulkResponse[created]
	if err := json.Unmarshal(r.body, &br); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	return br
}

func TestBulkAllSucceed(t *testing.T) {
	h := newBulk(t, createOrder, &batch.BulkOptions{SuccessStatus: http.StatusCreated})
	r := serve(h, "application/json; charset=utf-8", `[{"sku":"a","qty":1},{"sku":"b","qty":2},{"sku":"c"}]`)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d; %s", r.status, r.body)
	}
	br := decodeBulk(t, r)
	if br.Succeeded != 3 || br.Failed != 0 || len(br.Results) != 3 {
		t.Fatalf("response = %+v", br)
	}
	for i, res := range br.Results {
		want := "ord-" + string(rune('a'+i))
		if res.Index != i || res.Status != http.StatusCreated || res.Result.ID != want || res.Error != nil || !res.OK() {
			t.Fatalf("result %d = %+v", i, res)
		}
	}
}

func TestBulkPartialFailure(t *testing.T) {
	h := newBulk(t, createOrder, nil)
	r := serve(h, "application/json", `[{"sku":"a"},{"sku":""},{"sku":"c","qty":-1},{"sku":"panic"},{"sku":"e"}]`)
	if r.status != http.StatusMultiStatus {
		t.Fatalf("status = %d, want 207; %s", r.status, r.body)
	}
	if bytes.Contains(r.body, []byte("hunter2")) || bytes.Contains(r.body, []byte("bug in createOrder")) {
		t.Fatalf("internal error text reached the client: %s", r.body)
	}
	br := decodeBulk(t, r)
	if br.Succeeded != 2 || br.Failed != 3 {
		t.Fatalf("counts = %d/%d", br.Succeeded, br.Failed)
	}
	want := []struct {
		status int
		detail string
	}{
		{200, ""},
		{422, "sku is required"},
		{500, ""},
		{500, ""},
		{200, ""},
	}
	for i, w := range want {
		res := br.Results[i]
		if res.Index != i || res.Status != w.status {
			t.Fatalf("item %d = %+v, want status %d", i, res, w.status)
		}
		if w.status >= 300 {
			p := res.Error
			if p == nil || p.Status != w.status || p.Detail != w.detail || p.Type != "about:blank" || p.Title != http.StatusText(w.status) {
				t.Fatalf("item %d problem = %+v", i, p)
			}
			if res.Result != (created{}) {
				t.Fatalf("failed item %d has a result", i)
			}
		}
	}
	// The failed item's JSON has no "result" member.
	var raw struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	json.Unmarshal(r.body, &raw)
	if _, ok := raw.Results[1]["result"]; ok {
		t.Fatalf("failed item carries a result: %s", r.body)
	}
	if st := h.Stats(); st.Items != 5 || st.Failed != 3 || st.Requests != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestBulkProblemHook(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := newBulk(t, createOrder, &batch.BulkOptions{
		Problem: func(_ *http.Request, index int, err error) *batch.Problem {
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%d:%T", index, err))
			mu.Unlock()
			if errors.Is(err, context.Canceled) {
				return nil
			}
			var pe *batch.PanicError
			if errors.As(err, &pe) {
				return batch.NewProblem(http.StatusInternalServerError, "crashed; we were told")
			}
			return nil // the default
		},
	})
	r := serve(h, "application/json", `[{"sku":"panic"},{"sku":""}]`)
	br := decodeBulk(t, r)
	if br.Results[0].Error.Detail != "crashed; we were told" || br.Results[1].Error.Detail != "sku is required" {
		t.Fatalf("results = %+v", br.Results)
	}
	if len(seen) != 2 {
		t.Fatalf("hook saw %v", seen)
	}
}

// TestBulkBadRequests: a bad request is answered as a whole with a 4xx and a
// short problem document, and no item runs.
func TestBulkBadRequests(t *testing.T) {
	var ran atomic.Int64
	counting := func(ctx context.Context, o order) (created, error) { ran.Add(1); return createOrder(ctx, o) }
	h := newBulk(t, counting, &batch.BulkOptions{MaxItems: 3, MaxBytes: 200})
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		detail      string
	}{
		{"no content type", "", `[{"sku":"a"}]`, 415, "Content-Type"},
		{"text/plain", "text/plain", `[{"sku":"a"}]`, 415, "Content-Type"},
		{"bad media type", "application/", `[{"sku":"a"}]`, 415, "Content-Type"},
		{"empty body", "application/json", ``, 400, "empty"},
		{"whitespace body", "application/json", "  \n", 400, "empty"},
		{"empty array", "application/json", `[]`, 400, "at least one item"},
		{"object", "application/json", `{"sku":"a"}`, 400, "JSON array"},
		{"string", "application/json", `"x"`, 400, "JSON array"},
		{"malformed", "application/json", `[{"sku":"a"},{"sku":]`, 400, "malformed"},
		{"missing comma", "application/json", `[{"sku":"a"} {"sku":"b"}]`, 400, "malformed"},
		{"unterminated", "application/json", `[{"sku":"a"}`, 400, "ends inside"},
		{"trailing data", "application/json", `[{"sku":"a"}] [1]`, 400, "after the JSON array"},
		{"trailing garbage", "application/json", `[{"sku":"a"}]x`, 400, ""},
		{"too many items", "application/json", `[{},{},{},{}]`, 413, "at most 3 items"},
		{"too large", "application/json", `[` + strings.Repeat(`{"sku":"aaaaaaaa"},`, 20) + `{}]`, 413, "larger than 200 bytes"},
		{"problem+json is json", "application/merge-patch+json", `[]`, 400, "at least one item"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := serve(h, tt.contentType, tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != batch.ProblemContentType {
				t.Fatalf("Content-Type = %q", ct)
			}
			var p batch.Problem
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatalf("problem body %q: %v", r.body, err)
			}
			if p.Status != tt.status || p.Title != http.StatusText(tt.status) || !strings.Contains(p.Detail, tt.detail) {
				t.Fatalf("problem = %+v", p)
			}
			if len(r.body) > 300 {
				t.Fatalf("problem body is %d bytes; keep it short", len(r.body))
			}
		})
	}
	if ran.Load() != 0 {
		t.Fatalf("%d items ran for bad requests", ran.Load())
	}
	if st := h.Stats(); st.Rejected != uint64(len(tests)) {
		t.Fatalf("stats = %+v", st)
	}
}

// TestBulkContentLengthTooLarge: a declared Content-Length over the limit
// is refused before reading.
func TestBulkContentLengthTooLarge(t *testing.T) {
	h := newBulk(t, createOrder, &batch.BulkOptions{MaxBytes: 10})
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`[{"sku":"abc"}]`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d", rec.Code)
	}
}

func TestBulkItemDecodeErrors(t *testing.T) {
	h := newBulk(t, createOrder, &batch.BulkOptions{DisallowUnknownFields: true})
	r := serve(h, "application/json", `[{"sku":"a"},{"sku":1},null,"str",{"sku":"b","extra":true},{"sku":"c","qty":1.5}]`)
	if r.status != http.StatusMultiStatus {
		t.Fatalf("status = %d; %s", r.status, r.body)
	}
	br := decodeBulk(t, r)
	wantDetail := []string{
		"",
		`field "sku": a JSON number is not valid here`,
		"the item is null",
		"a JSON string is not a valid item",
		`invalid item: unknown field "extra"`,
		`field "qty": a JSON number 1.5 is not valid here`,
	}
	for i, w := range wantDetail {
		res := br.Results[i]
		if w == "" {
			if !res.OK() {
				t.Fatalf("item %d failed: %+v", i, res.Error)
			}
			continue
		}
		if res.Status != 400 || res.Error == nil || res.Error.Detail != w {
			t.Errorf("item %d = %d %+v, want 400 %q", i, res.Status, res.Error, w)
		}
		if strings.Contains(res.Error.Detail, "batch_test") || strings.Contains(res.Error.Detail, "Go ") {
			t.Errorf("item %d detail names Go types: %q", i, res.Error.Detail)
		}
	}

	// Unknown fields are ignored by default.
	h2 := newBulk(t, createOrder, nil)
	if r := serve(h2, "application/json", `[{"sku":"b","extra":true}]`); r.status != 200 {
		t.Fatalf("status = %d; %s", r.status, r.body)
	}
}

func TestBulkConcurrencyBound(t *testing.T) {
	for _, tt := range []struct {
		name  string
		conc  int
		limit int64
	}{{"three", 3, 3}, {"negative is one", -1, 1}, {"default", 0, batch.DefaultConcurrency}} {
		t.Run(tt.name, func(t *testing.T) {
			var running, peak atomic.Int64
			fn := func(ctx context.Context, o order) (created, error) {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				defer running.Add(-1)
				return createOrder(ctx, o)
			}
			h := newBulk(t, fn, &batch.BulkOptions{Concurrency: tt.conc})
			items := make([]order, 50)
			for i := range items {
				items[i] = order{SKU: fmt.Sprint(i)}
			}
			body, _ := json.Marshal(items)
			r := serve(h, "application/json", string(body))
			br := decodeBulk(t, r)
			if br.Succeeded != 50 {
				t.Fatalf("succeeded = %d", br.Succeeded)
			}
			for i, res := range br.Results {
				if res.Index != i || res.Result.SKU != fmt.Sprint(i) {
					t.Fatalf("result %d out of order: %+v", i, res)
				}
			}
			if peak.Load() > tt.limit {
				t.Fatalf("peak concurrency %d > %d", peak.Load(), tt.limit)
			}
		})
	}
}

// TestBulkUnencodableResult: a result that JSON cannot encode fails its own
// item only.
func TestBulkUnencodableResult(t *testing.T) {
	fn := func(_ context.Context, x float64) (float64, error) {
		if x < 0 {
			return math.NaN(), nil
		}
		return x * 2, nil
	}
	h, err := batch.NewBulkHandler(fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := serve(h, "application/json", `[1,-1,3]`)
	if r.status != http.StatusMultiStatus {
		t.Fatalf("status = %d; %s", r.status, r.body)
	}
	var br batch.BulkResponse[float64]
	if err := json.Unmarshal(r.body, &br); err != nil {
		t.Fatal(err)
	}
	if br.Results[0].Result != 2 || br.Results[1].Status != 500 || br.Results[2].Result != 6 || br.Failed != 1 {
		t.Fatalf("response = %s", r.body)
	}
}

// TestBulkClientGone: items not yet started when the client leaves are not
// run.
func TestBulkClientGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int64
	fn := func(_ context.Context, o order) (created, error) {
		ran.Add(1)
		cancel() // the client leaves during the first item
		return created{SKU: o.SKU}, nil
	}
	h := newBulk(t, fn, &batch.BulkOptions{Concurrency: -1})
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(`[{"sku":"a"},{"sku":"b"},{"sku":"c"}]`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var br batch.BulkResponse[created]
	json.Unmarshal(rec.Body.Bytes(), &br)
	if ran.Load() != 1 || br.Succeeded != 1 || br.Results[1].Status != 503 || br.Results[2].Status != 503 {
		t.Fatalf("ran %d; %s", ran.Load(), rec.Body.Bytes())
	}
}

func TestNewBulkHandlerValidates(t *testing.T) {
	if _, err := batch.NewBulkHandler[order, created](nil, nil); err == nil {
		t.Fatal("nil function accepted")
	}
	if _, err := batch.NewBulkHandler(createOrder, &batch.BulkOptions{SuccessStatus: 302}); err == nil {
		t.Fatal("SuccessStatus 302 accepted")
	}
}

func TestProblemError(t *testing.T) {
	p := batch.NewProblem(http.StatusConflict, "sku 42 exists")
	if got := p.Error(); got != "batch: 409 Conflict: sku 42 exists" {
		t.Fatalf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("create: %w", p)
	var got *batch.Problem
	if !errors.As(wrapped, &got) || got != p {
		t.Fatal("errors.As does not find the problem")
	}
}

func TestBulkOverRealServer(t *testing.T) {
	h := newBulk(t, createOrder, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`[{"sku":"a"},{"sku":""}]`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus || !json.Valid(body) {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
}

// serveOff runs serve on a goroutine of its own, so an item function that
// ends the handler's goroutine with runtime.Goexit cannot end the test's;
// returned reports whether ServeHTTP returned.
func serveOff(h http.Handler, body string) (r response, returned bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r = serve(h, "application/json", body)
		returned = true
	}()
	<-done
	return r, returned
}

// TestBulkGoexit: an item function that calls runtime.Goexit fails its own
// item with a 500, like a panic, whichever goroutine runs it (with
// Concurrency 1 that used to be the handler's own); the other items run and
// the counters come back.
func TestBulkGoexit(t *testing.T) {
	exiting := map[int]bool{0: true, 7: true, 19: true}
	fn := func(ctx context.Context, o order) (created, error) {
		if o.Qty == 1 {
			runtime.Goexit()
		}
		return createOrder(ctx, o)
	}
	items := make([]order, 20)
	for i := range items {
		items[i] = order{SKU: fmt.Sprint(i)}
		if exiting[i] {
			items[i].Qty = 1
		}
	}
	body, _ := json.Marshal(items)
	for _, conc := range []int{-1, 2, 8, 50} {
		t.Run(fmt.Sprint("concurrency=", conc), func(t *testing.T) {
			var mu sync.Mutex
			var hookSaw []error
			h := newBulk(t, fn, &batch.BulkOptions{Concurrency: conc, Problem: func(_ *http.Request, _ int, err error) *batch.Problem {
				mu.Lock()
				hookSaw = append(hookSaw, err)
				mu.Unlock()
				return nil
			}})
			for range 20 { // many tries: which goroutine runs an item varies
				r, returned := serveOff(h, string(body))
				if !returned {
					t.Fatal("runtime.Goexit in an item ended the handler's goroutine")
				}
				if r.status != http.StatusMultiStatus {
					t.Fatalf("status = %d, want 207; %s", r.status, r.body)
				}
				br := decodeBulk(t, r)
				if br.Succeeded != 17 || br.Failed != 3 {
					t.Fatalf("succeeded %d failed %d, want 17 and 3", br.Succeeded, br.Failed)
				}
				for i, res := range br.Results {
					want := http.StatusOK
					if exiting[i] {
						want = http.StatusInternalServerError
					}
					if res.Index != i || res.Status != want || (res.Error == nil) != (want == http.StatusOK) {
						t.Fatalf("result %d = %+v, want status %d", i, res, want)
					}
				}
			}
			if st := h.Stats(); st.InFlight != 0 || st.Failed != 20*3 || st.Items != 20*20 {
				t.Fatalf("stats = %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(hookSaw) != 20*3 {
				t.Fatalf("Problem hook called %d times, want %d", len(hookSaw), 20*3)
			}
			for _, err := range hookSaw {
				if !errors.Is(err, batch.ErrGoexit) {
					t.Fatalf("Problem hook got %v, want ErrGoexit", err)
				}
			}
		})
	}
}

// touchy is an item whose decoding can panic or call runtime.Goexit.
type touchy struct{ mode string }

func (t *touchy) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &t.mode); err != nil {
		return err
	}
	switch t.mode {
	case "decode-panic":
		panic("decode")
	case "decode-goexit":
		runtime.Goexit()
	}
	return nil
}

// touchyResult is a result whose encoding can panic, call runtime.Goexit
// or fail.
type touchyResult struct{ mode string }

func (r touchyResult) MarshalJSON() ([]byte, error) {
	switch r.mode {
	case "encode-panic":
		panic("encode")
	case "encode-goexit":
		runtime.Goexit()
	case "encode-error":
		return nil, errors.New("cannot encode")
	}
	return json.Marshal(r.mode)
}

// TestBulkUserCodeFails: every piece of user code a BulkHandler runs (T's
// UnmarshalJSON, the item function, R's MarshalJSON, the Problem hook) can
// panic or call runtime.Goexit; each fails only its own item with a 500,
// the handler answers, and the counters come back.
func TestBulkUserCodeFails(t *testing.T) {
	modes := []string{"ok", "decode-panic", "decode-goexit", "fn-panic", "fn-goexit", "encode-panic",
		"encode-goexit", "encode-error", "hook-panic", "hook-goexit", "ok"}
	fn := func(_ context.Context, in touchy) (touchyResult, error) {
		switch in.mode {
		case "fn-panic":
			panic("fn")
		case "fn-goexit":
			runtime.Goexit()
		case "hook-panic", "hook-goexit":
			return touchyResult{}, errors.New(in.mode)
		}
		return touchyResult(in), nil
	}
	hook := func(_ *http.Request, _ int, err error) *batch.Problem {
		switch err.Error() {
		case "hook-panic":
			panic("hook")
		case "hook-goexit":
			runtime.Goexit()
		}
		return nil
	}
	body, _ := json.Marshal(modes)
	for _, conc := range []int{-1, 3} {
		t.Run(fmt.Sprint("concurrency=", conc), func(t *testing.T) {
			h, err := batch.NewBulkHandler(fn, &batch.BulkOptions{Concurrency: conc, Problem: hook})
			if err != nil {
				t.Fatal(err)
			}
			const tries = 10
			for range tries {
				r, returned := serveOff(h, string(body))
				if !returned {
					t.Fatal("user code ended the handler's goroutine")
				}
				if r.status != http.StatusMultiStatus {
					t.Fatalf("status = %d; %s", r.status, r.body)
				}
				var br struct {
					Results []struct {
						Index  int             `json:"index"`
						Status int             `json:"status"`
						Result json.RawMessage `json:"result"`
						Error  *batch.Problem  `json:"error"`
					} `json:"results"`
					Succeeded int `json:"succeeded"`
					Failed    int `json:"failed"`
				}
				if err := json.Unmarshal(r.body, &br); err != nil {
					t.Fatalf("%v: %s", err, r.body)
				}
				if len(br.Results) != len(modes) || br.Succeeded != 2 || br.Failed != len(modes)-2 {
					t.Fatalf("response %s", r.body)
				}
				for i, res := range br.Results {
					if modes[i] == "ok" {
						if res.Index != i || res.Status != http.StatusOK || string(res.Result) != `"ok"` {
							t.Fatalf("item %d (%s) = %+v", i, modes[i], res)
						}
						continue
					}
					if res.Index != i || res.Status != http.StatusInternalServerError || res.Error == nil || res.Error.Detail != "" || res.Result != nil {
						t.Fatalf("item %d (%s) = %+v, want a 500 without detail", i, modes[i], res)
					}
				}
			}
			if st := h.Stats(); st.InFlight != 0 || st.Items != tries*uint64(len(modes)) || st.Failed != tries*uint64(len(modes)-2) {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}
