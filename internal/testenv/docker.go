package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

// RequireDocker returns a client of the Docker engine (DOCKER_HOST, default
// unix:///var/run/docker.sock, API version negotiated), closed when the test
// ends.
//
// With -short (the fast tier, `make test`) the test is skipped without
// asking the engine, CI=true or not: engine tests belong to the engine tier
// (`make test-e2e`, no -short). Without
// -short, when no engine answers, the test is skipped, except under CI
// (CI=true), where it fails: CI never skips the engine tests.
func RequireDocker(t TB) *client.Client {
	t.Helper()
	SkipIfShort(t, "needs a Docker engine")
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
		if err != nil {
			_ = cli.Close()
		}
	}
	if err != nil {
		msg := "no Docker engine answers at " + hostlock.DockerHost() + ": " + err.Error() +
			"; start one (as root: `dockerd >/tmp/dockerd.log 2>&1 &`, or run `bash .ci/run`, which installs and starts it) " +
			"or point DOCKER_HOST at one"
		if IsCI() {
			t.Fatal("testenv: " + msg + " (CI=true: engine tests are never skipped)")
		}
		t.Skip("testenv: " + msg)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// IsCI tells whether the tests run under CI (CI=true).
func IsCI() bool { return os.Getenv("CI") == "true" }

// SkipIfShort skips an engine-tier test under -short, saying why: the fast
// tier (`go test -short`, packages in parallel) runs no test that needs a
// Docker engine, external tools or a fixed port. Such tests run in the
// engine tier (`make test-e2e`: no -short, one package at a time).
func SkipIfShort(t TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip("engine tier only (" + why + "): skipped with -short; run `make test-e2e`")
	}
}

// ctxFor returns a context bounded by d and by the test's deadline.
func ctxFor(t TB, d time.Duration) (context.Context, context.CancelFunc) {
	ctx := context.Background()
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := tt.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl)
			c2, cancel2 := context.WithTimeout(ctx, d)
			return c2, func() { cancel2(); cancel() }
		}
	}
	return context.WithTimeout(ctx, d)
}
