package testenv

import (
	"bytes"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// ContainerLogs returns a container's stdout and stderr so far.
func ContainerLogs(t testing.TB, cli *client.Client, id string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := ctxFor(t, 30*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("testenv: reading logs of %s: %v", id, err)
	}
	defer rc.Close()
	var o, e bytes.Buffer
	if _, err := stdcopy.StdCopy(&o, &e, rc); err != nil {
		t.Fatalf("testenv: reading logs of %s: %v", id, err)
	}
	return o.Bytes(), e.Bytes()
}
