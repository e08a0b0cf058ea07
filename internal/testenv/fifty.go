package testenv

import (
	"fmt"
	"testing"
)

// FiftyModules is the 50-module device of internal/e2e's TestFiftyModules
// (module01 to module50 besides edgeAgent and edgeHub) with a few faults a
// report should lead with: module07 a debug build publishing its debugger's
// port (privileged containers do not start on every engine), module13 on :latest,
// module21 without a memory limit, module34 mounting the Docker socket.
// Start runs it on an engine; its Manifest is the same device as a
// deployment manifest.
func FiftyModules(t testing.TB) *Device {
	t.Helper()
	d := NewDevice(t)
	d.Modules = nil
	for i := 1; i <= 50; i++ {
		m := CustomModule(fmt.Sprintf("module%02d", i), fmt.Sprintf("myregistry.azurecr.io/module%02d:1.2.3", i))
		switch i {
		case 7:
			m.Image, m.Ports = "myregistry.azurecr.io/module07:1.2.3-amd64.debug", []string{"5678/tcp"}
		case 13:
			m.Image = "myregistry.azurecr.io/module13:latest"
		case 21:
			m.Memory = 0
		case 34:
			m.Binds = append(m.Binds, "/var/run/docker.sock:/var/run/docker.sock")
		}
		d.Modules = append(d.Modules, m)
	}
	return d
}
