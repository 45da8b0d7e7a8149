package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/batch"
)

// FuzzBulkDecode feeds arbitrary bodies to a BulkHandler. Whatever the
// bytes, it answers 200 or 207 with one result per array element, or a
// whole-request 4xx with a problem document; it never panics or hangs.
func FuzzBulkDecode(f *testing.F) {
	for _, seed := range []string{
		`[{"sku":"a","qty":1},{"sku":""}]`,
		`[]`, `[`, `]`, `{}`, `null`, `[null]`, `[1,"x",true,{}]`,
		`[{"sku":"a"}] trailing`, `[{"sku":"a"}`, `[{"sku":"\u00e9\ud800"}]`,
		`[{"qty":1e400}]`, `[[[[[[[[[[]]]]]]]]]]`, "\xef\xbb\xbf[{}]", ` [ {} , {} ] `,
		`[{"sku":"a","sku":"b"}]`, `[{"extra":{"deep":[1,2,{"x":null}]}}]`,
	} {
		f.Add(seed)
	}
	h, err := batch.NewBulkHandler(func(_ context.Context, o order) (created, error) {
		if o.SKU == "" {
			return created{}, batch.NewProblem(http.StatusUnprocessableEntity, "sku is required")
		}
		return created{ID: "x", SKU: o.SKU}, nil
	}, &batch.BulkOptions{MaxItems: 20, MaxBytes: 4096, DisallowUnknownFields: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK, http.StatusMultiStatus:
			var elems []json.RawMessage
			if err := json.Unmarshal([]byte(body), &elems); err != nil {
				t.Fatalf("accepted a body that is not a JSON array (%v): %q", err, body)
			}
			var br batch.BulkResponse[created]
			if err := json.Unmarshal(rec.Body.Bytes(), &br); err != nil {
				t.Fatalf("response is not JSON: %v", err)
			}
			if len(br.Results) != len(elems) || br.Succeeded+br.Failed != len(elems) {
				t.Fatalf("%d results (%d+%d) for %d elements", len(br.Results), br.Succeeded, br.Failed, len(elems))
			}
			for i, r := range br.Results {
				if r.Index != i || (r.Error == nil) != (r.Status == http.StatusOK) {
					t.Fatalf("result %d = %+v", i, r)
				}
				if r.Error != nil && (r.Error.Status != r.Status || r.Status < 400) {
					t.Fatalf("result %d problem = %+v", i, r.Error)
				}
			}
			if (rec.Code == http.StatusOK) != (br.Failed == 0) {
				t.Fatalf("status %d with %d failed", rec.Code, br.Failed)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if rec.Header().Get("Content-Type") != batch.ProblemContentType {
				t.Fatalf("4xx without a problem document")
			}
			var p batch.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Detail == "" {
				t.Fatalf("problem %q: %v", rec.Body.Bytes(), err)
			}
			if rec.Code == http.StatusBadRequest && len(body) <= 4096 {
				var elems []json.RawMessage
				if json.Unmarshal([]byte(body), &elems) == nil && len(elems) > 0 && len(elems) <= 20 {
					t.Fatalf("refused a valid array of %d elements: %s", len(elems), rec.Body.Bytes())
				}
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}

// FuzzSplitArray is FuzzBulkDecode without HTTP, fast enough for the fuzzer
// to explore: the decoder accepts exactly the JSON arrays of 1 to maxItems
// elements, returns them byte for byte, and decodes each into an item or a
// 400, never panicking.
func FuzzSplitArray(f *testing.F) {
	for _, seed := range []string{
		`[{"sku":"a","qty":1},{"sku":""}]`,
		`[]`, `[`, `]`, `{}`, `null`, `[null]`, `[1,"x",true,{}]`,
		`[{"sku":"a"}] trailing`, `[{"sku":"a"}`, `[{"sku":"\u00e9\ud800"}]`,
		`[{"qty":1e400}]`, `[[[[[[[[[[]]]]]]]]]]`, "\xef\xbb\xbf[{}]", ` [ {} , {} ] `,
		`[{"sku":"a","sku":"b"}]`, `[{"extra":{"deep":[1,2,{"x":null}]}}]`, `[1,2,3,4,5,6]`,
	} {
		f.Add([]byte(seed))
	}
	const maxItems = 5
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, p := batch.SplitArray(body, maxItems)
		var elems []json.RawMessage
		validArray := json.Unmarshal(body, &elems) == nil && body != nil && bytes.TrimSpace(body)[0] == '['
		if p != nil {
			if p.Detail == "" || (p.Status != http.StatusBadRequest && p.Status != http.StatusRequestEntityTooLarge) {
				t.Fatalf("problem %+v", p)
			}
			if validArray && len(elems) > 0 && len(elems) <= maxItems {
				t.Fatalf("refused a valid array of %d elements: %+v", len(elems), p)
			}
			// Counting stops at the limit, so a body that goes bad after it
			// may get 413 too; a valid one must really be too long.
			if p.Status == http.StatusRequestEntityTooLarge && validArray && len(elems) <= maxItems {
				t.Fatalf("413 for %d elements", len(elems))
			}
			return
		}
		if !validArray || len(raws) != len(elems) || len(raws) == 0 || len(raws) > maxItems {
			t.Fatalf("accepted %q as %d elements (Unmarshal: %d, valid %v)", body, len(raws), len(elems), validArray)
		}
		for i := range raws {
			if !bytes.Equal(raws[i], elems[i]) {
				t.Fatalf("element %d = %q, want %q", i, raws[i], elems[i])
			}
			var o order
			if p := batch.DecodeItem(raws[i], true, &o); p != nil && (p.Status != http.StatusBadRequest || p.Detail == "") {
				t.Fatalf("item %d problem %+v", i, p)
			}
		}
	})
}
