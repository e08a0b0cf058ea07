package fleet

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Paging of the twin query (amenzhinsky/iothub's QueryDevices sets no page
// size and gives up at the first 429).
const (
	// PageSize is the x-ms-max-item-count of each query page: IoT Hub's
	// documented largest, so that a fleet takes the fewest queries (they
	// are throttled per minute: 20 a minute per unit on S1).
	PageSize = 100
	// Retries is how many times a page answered 429 (throttled) or 503 is
	// asked again before the query fails.
	Retries = 4
	// maxRetryWait bounds one wait between two tries, whatever Retry-After
	// says; the whole query is bounded by its context (--timeout).
	maxRetryWait = 30 * time.Second
)

// QueryStats counts what the query transport did.
type QueryStats struct {
	Pages   int64 // query pages answered 200
	Bytes   int64 // bytes of those pages' bodies
	Retries int64 // tries again after a 429 or 503
}

// queryTransport sets the page size of POST /devices/query, counts the
// pages and their bytes, and asks a page again when IoT Hub throttles it
// (429) or is unavailable (503), after its Retry-After (seconds) or an
// exponential wait from one second, at most Retries times and never past
// the request's deadline: then the 429 or 503 goes to the caller.
type queryTransport struct {
	base    http.RoundTripper
	sleep   func(time.Duration) // time.Sleep; tests make it instant
	pages   atomic.Int64
	bytes   atomic.Int64
	retries atomic.Int64
}

func (t *queryTransport) stats() QueryStats {
	return QueryStats{Pages: t.pages.Load(), Bytes: t.bytes.Load(), Retries: t.retries.Load()}
}

func (t *queryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.URL.Path != "/devices/query" {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("x-ms-max-item-count", strconv.Itoa(PageSize))
	for try := 0; ; try++ {
		if try > 0 {
			if req.GetBody == nil {
				return nil, fmt.Errorf("the query request cannot be sent again")
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		resp, err := t.base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusOK {
			t.pages.Add(1)
			resp.Body = &countingBody{ReadCloser: resp.Body, n: &t.bytes}
			return resp, nil
		}
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable || try == Retries {
			return resp, nil
		}
		wait := retryWait(resp.Header.Get("Retry-After"), try)
		if deadline, ok := req.Context().Deadline(); ok && time.Until(deadline) < wait {
			return resp, nil // the caller's bound comes first: it gets the 429
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		t.retries.Add(1)
		t.sleep(wait)
		if err := req.Context().Err(); err != nil {
			return nil, err
		}
	}
}

// retryWait is the wait Retry-After asks (whole seconds; IoT Hub sends
// seconds), else 1s, 2s, 4s... by try; at most maxRetryWait.
func retryWait(retryAfter string, try int) time.Duration {
	if s, err := strconv.Atoi(retryAfter); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, maxRetryWait)
	}
	return min(time.Second<<try, maxRetryWait)
}

// countingBody counts the bytes read from a response body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
