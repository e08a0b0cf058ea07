package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// DefaultMetricsAddr is where module mode serves Prometheus metrics, the
// port edgeHub and edgeAgent use, so that the metrics-collector module
// scrapes http://readiness:9600/metrics like theirs.
const DefaultMetricsAddr = ":9600"

// exporter serves the metrics endpoint where the policy says: the policy's
// exporter.address, else the --metrics-addr flag; off when the policy
// disables it or the address is empty. A bind failure is logged, never fatal.
// Unless the policy's exporter.page is false, the same listener serves the
// latest report as an HTML page at / (page); nothing else is served.
type exporter struct {
	handler  http.Handler
	page     http.Handler // nil: no page
	flagAddr string
	log      zerolog.Logger

	mu     sync.Mutex
	addr   string // where it listens now; "" when off
	pageOn bool   // whether it serves the page now
	srv    *http.Server
	ln     net.Listener
}

// apply follows a policy put in force.
func (e *exporter) apply(p *policy.Policy) {
	want := e.flagAddr
	if p.Exporter.Address != "" {
		want = p.Exporter.Address
	}
	if !p.Exporter.Enabled {
		want = ""
	}
	wantPage := p.Exporter.Page && e.page != nil
	e.mu.Lock()
	defer e.mu.Unlock()
	if want == e.addr && (want == "" || e.srv != nil) && (want == "" || wantPage == e.pageOn) {
		return
	}
	e.stopLocked()
	if want == "" {
		e.log.Info().Msg("metrics endpoint off")
		return
	}
	ln, err := net.Listen("tcp", want)
	if err != nil {
		e.log.Error().Err(err).Str("address", want).Msg("metrics endpoint unavailable")
		e.addr = want // not retried until the policy changes it
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", e.handler)
	if wantPage {
		mux.Handle("GET /{$}", e.page) // GET and HEAD of / only; read-only
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	e.srv, e.ln, e.addr, e.pageOn = srv, ln, want, wantPage
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error().Err(err).Msg("metrics endpoint stopped")
		}
	}()
	if wantPage {
		e.log.Info().Str("address", ln.Addr().String()).Msg("serving Prometheus metrics at /metrics and the latest report at /")
	} else {
		e.log.Info().Str("address", ln.Addr().String()).Msg("serving Prometheus metrics at /metrics")
	}
}

func (e *exporter) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopLocked()
}

func (e *exporter) stopLocked() {
	if e.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = e.srv.Shutdown(ctx)
		cancel()
	}
	e.srv, e.ln, e.addr, e.pageOn = nil, nil, "", false
}
