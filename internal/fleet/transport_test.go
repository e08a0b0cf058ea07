package fleet

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestQueryTransport: the query gets a page size; a 429 is asked again
// after its Retry-After (or 1s, 2s... without one), at most Retries times,
// and not when the wait would outlast the request's deadline; other
// requests pass untouched.
func TestQueryTransport(t *testing.T) {
	var answers []int // status of each query request, in order; then 200
	var sizes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/devices/query" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		sizes = append(sizes, r.Header.Get("x-ms-max-item-count"))
		if len(answers) > 0 {
			st := answers[0]
			answers = answers[1:]
			if st == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "3")
			}
			w.WriteHeader(st)
			return
		}
		_, _ = w.Write([]byte(`[{"deviceId":"a"}]`))
	}))
	defer srv.Close()
	var waits []time.Duration
	tr := &queryTransport{base: http.DefaultTransport, sleep: func(d time.Duration) { waits = append(waits, d) }}
	hc := &http.Client{Transport: tr}
	post := func(ctx context.Context) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/devices/query", strings.NewReader(`{"query":"q"}`))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}

	answers = []int{429, 503}
	if st := post(context.Background()); st != 200 || len(waits) != 2 || waits[0] != 3*time.Second || waits[1] != 2*time.Second {
		t.Errorf("429 then 503: status %d, waits %v; want 200 after 3s (Retry-After) and 2s (second try, none given)", st, waits)
	}
	if s := tr.stats(); s.Pages != 1 || s.Retries != 2 || s.Bytes != int64(len(`[{"deviceId":"a"}]`)) {
		t.Errorf("stats %+v", s)
	}
	for _, sz := range sizes {
		if sz != "100" {
			t.Errorf("x-ms-max-item-count %q, want 100", sz)
		}
	}

	waits, answers = nil, []int{429, 429, 429, 429, 429, 429}
	if st := post(context.Background()); st != 429 || len(waits) != Retries {
		t.Errorf("throttled throughout: status %d after %d waits, want 429 after %d", st, len(waits), Retries)
	}

	waits, answers = nil, []int{429}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if st := post(ctx); st != 429 || len(waits) != 0 {
		t.Errorf("Retry-After past the deadline: status %d after %d waits, want 429 at once", st, len(waits))
	}

	answers = []int{500}
	waits = nil
	if st := post(context.Background()); st != 500 || len(waits) != 0 {
		t.Errorf("500: status %d after %d waits, want it at once", st, len(waits))
	}
}
