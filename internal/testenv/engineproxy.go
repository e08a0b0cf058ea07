package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

// EngineRequest is one request an EngineProxy received.
type EngineRequest struct {
	Method string
	// Version is the API version the path started with ("1.41" for
	// /v1.41/info); empty for an unversioned path such as /_ping.
	Version string
	// Path is the path as sent, less the version prefix and the query.
	Path string
	// Endpoint is Path with the object it names (a container's ID or name, an
	// image's reference, ...) replaced by a placeholder, so that requests
	// can be compared: /containers/{id}/json, /images/{name}/json.
	Endpoint string
	// Object is what the placeholder replaced; empty when none.
	Object string
	// Status is the status of the answer; Injected tells that the proxy
	// gave it (a Fault) and the engine never saw the request.
	Status   int
	Injected bool
}

// String renders the request as "GET /containers/{id}/json".
func (r EngineRequest) String() string { return r.Method + " " + r.Endpoint }

// Fault is an answer an EngineProxy gives in place of the engine's: an
// error with a body as the engine writes one ({"message": "..."}).
type Fault struct {
	// Method and Endpoint select the requests (Endpoint as in
	// EngineRequest); an empty Method means any.
	Method   string
	Endpoint string
	// Objects narrows the fault to requests naming one of these objects:
	// equal, or for a container or image ID, a prefix of 12 or more
	// characters of it. Empty means every object.
	Objects []string
	Status  int
	Message string
}

func (f *Fault) matches(r *EngineRequest) bool {
	if (f.Method != "" && f.Method != r.Method) || f.Endpoint != r.Endpoint {
		return false
	}
	if len(f.Objects) == 0 {
		return true
	}
	for _, o := range f.Objects {
		if r.Object == o || (len(r.Object) >= 12 && idRE.MatchString(o) && strings.HasPrefix(o, r.Object)) {
			return true
		}
	}
	return false
}

// idRE matches the full ID of a container or image.
var idRE = regexp.MustCompile(`^(sha256:)?[0-9a-f]{64}$`)

// EngineProxy stands between a program and the Docker engine: it listens on
// a unix socket (point the program's DOCKER_HOST at Host), forwards each
// request to the engine, records it, and answers with an error instead
// where a Fault says so. It does not stream: answers are forwarded as they
// come, which suffices for a client that never follows logs or events.
type EngineProxy struct {
	// Socket is the path of the proxy's socket; Host is the DOCKER_HOST
	// naming it (unix://...).
	Socket string
	Host   string

	engine    string // the engine's socket
	transport *http.Transport
	srv       *http.Server

	mu       sync.Mutex
	requests []EngineRequest
	faults   []Fault
}

// NewEngineProxy starts a proxy in front of the engine RequireDocker finds,
// which must listen on a unix socket (DOCKER_HOST unix://..., or the
// default /var/run/docker.sock). It stops when the test ends.
func NewEngineProxy(t testing.TB) *EngineProxy {
	t.Helper()
	RequireDocker(t)
	engine, ok := strings.CutPrefix(hostlock.DockerHost(), "unix://")
	if !ok {
		t.Fatalf("testenv: the engine proxy forwards to a unix socket; DOCKER_HOST is %s", hostlock.DockerHost())
	}
	// A socket path has at most 107 bytes: a short directory, not t.TempDir().
	dir, err := os.MkdirTemp("", "er-engine-proxy-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p := &EngineProxy{Socket: filepath.Join(dir, "docker.sock"), engine: engine}
	p.Host = "unix://" + p.Socket
	p.transport = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", engine)
		},
		MaxIdleConns:    8,
		IdleConnTimeout: 30 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: "docker"})
			pr.Out.Host = pr.In.Host
		},
		Transport:     p.transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeEngineError(w, http.StatusBadGateway, "engine proxy: "+err.Error())
		},
	}
	ln, err := net.Listen("unix", p.Socket)
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("testenv: engine proxy: %v", err)
	}
	p.srv = &http.Server{Handler: p.handler(rp), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = p.srv.Close()
		<-done
		p.transport.CloseIdleConnections()
		_ = os.RemoveAll(dir)
	})
	return p
}

func (p *EngineProxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := EngineRequest{Method: r.Method, Path: r.URL.Path}
		if m := versionRE.FindStringSubmatch(r.URL.Path); m != nil {
			rec.Version, rec.Path = m[1], m[2]
		}
		rec.Endpoint, rec.Object = normaliseEndpoint(rec.Path)

		p.mu.Lock()
		var fault *Fault
		for i := range p.faults {
			if p.faults[i].matches(&rec) {
				fault = &p.faults[i]
				break
			}
		}
		i := len(p.requests)
		p.requests = append(p.requests, rec)
		p.mu.Unlock()

		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if fault != nil {
			writeEngineError(sw, fault.Status, fault.Message)
		} else {
			next.ServeHTTP(sw, r)
		}
		p.mu.Lock()
		p.requests[i].Status = sw.status
		p.requests[i].Injected = fault != nil
		p.mu.Unlock()
	})
}

// writeEngineError answers as the engine does on an error.
func writeEngineError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Requests returns the requests received so far, in the order they came.
func (p *EngineProxy) Requests() []EngineRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]EngineRequest(nil), p.requests...)
}

// Fail makes the proxy answer the requests f selects with f's error from
// now on; the first matching fault wins.
func (p *EngineProxy) Fail(f Fault) {
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, f)
}

// FailInspect makes GET /containers/{id}/json of the named container answer
// 500 with message, whether the request names it by name, ID or ID prefix.
// The container must exist: its ID is asked of the engine directly.
func (p *EngineProxy) FailInspect(t testing.TB, name, message string) {
	t.Helper()
	ctx, cancel := ctxFor(t, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/"+url.PathEscape(name)+"/json", nil)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		t.Fatalf("testenv: inspecting %s: %v", name, err)
	}
	defer resp.Body.Close()
	var ic struct{ ID, Name string }
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testenv: inspecting %s: status %s", name, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ic); err != nil || ic.ID == "" {
		t.Fatalf("testenv: inspecting %s: no ID in the answer (%v)", name, err)
	}
	p.Fail(Fault{Method: http.MethodGet, Endpoint: "/containers/{id}/json",
		Objects: []string{strings.TrimPrefix(ic.Name, "/"), ic.ID}, Message: message})
}

// versionRE splits /v1.41/info into 1.41 and /info.
var versionRE = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

// fixedRoutes are, per collection of the engine API, the second path
// elements that are endpoints and not objects (/containers/json lists,
// /containers/<x>/json inspects).
var fixedRoutes = map[string][]string{
	"containers": {"json", "create", "prune"},
	"images":     {"json", "create", "search", "prune", "load", "get"},
	"volumes":    {"create", "prune"},
	"networks":   {"create", "prune"},
	"exec":       nil,
	"plugins":    {"privileges", "pull", "create"},
	"services":   {"create"},
	"tasks":      nil,
	"secrets":    {"create"},
	"configs":    {"create"},
	"nodes":      nil,
}

// imageActions end the paths of the endpoints about one image, whose
// reference can hold slashes (/images/registry/repo:tag/json).
var imageActions = []string{"json", "history", "push", "tag", "get"}

// normaliseEndpoint replaces the object a path names by a placeholder:
// {id} for containers, networks, exec instances and the like, {name} for
// images and volumes.
func normaliseEndpoint(p string) (endpoint, object string) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	fixed, ok := fixedRoutes[parts[0]]
	if !ok || len(parts) < 2 || parts[1] == "" {
		return p, ""
	}
	for _, f := range fixed {
		if parts[1] == f && len(parts) == 2 {
			return p, ""
		}
	}
	placeholder := "{id}"
	if parts[0] == "images" || parts[0] == "volumes" {
		placeholder = "{name}"
	}
	if parts[0] == "images" {
		last := parts[len(parts)-1]
		for _, a := range imageActions {
			if last == a && len(parts) > 2 {
				return "/images/{name}/" + a, strings.Join(parts[1:len(parts)-1], "/")
			}
		}
		return "/images/{name}", strings.Join(parts[1:], "/")
	}
	rest := ""
	if len(parts) > 2 {
		rest = "/" + strings.Join(parts[2:], "/")
	}
	return fmt.Sprintf("/%s/%s%s", parts[0], placeholder, rest), parts[1]
}
