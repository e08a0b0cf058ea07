package checks

import (
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// An error finding is a check that could not decide: its fix is what would
// let it decide (the fact it could not read), not the check's remedy for a
// failure. These are the texts, one per fact, and the only place they are.
var factFixes = map[facts.Fact]string{
	NeedEngine: "Give the module the Docker engine: bind its socket read-only (\"Binds\": " +
		"[\"/var/run/docker.sock:/var/run/docker.sock:ro\"]) and add the socket's group (\"GroupAdd\": [\"<stat -c %g " +
		"/var/run/docker.sock>\"]), or point --docker-host (DOCKER_HOST) at a read-only socket proxy; on the host, run as " +
		"a user allowed to open the socket (root, or its group).",
	NeedEngineInventory: "Let the module read the engine's /info, /images, /volumes and /system/df: behind a " +
		"docker-socket-proxy, turn on INFO, IMAGES, VOLUMES and SYSTEM.",
	NeedContainers: "Let the module list and inspect the containers (GET /containers/json and /containers/{id}/json): " +
		"behind a docker-socket-proxy, turn on CONTAINERS.",
	NeedEdgeHubStats: "Let the module reach edgeHub's metrics (http://edgeHub:9600/metrics, on the azure-iot-edge " +
		"network), or give their address with --edgehub-metrics URL.",
	NeedEdgeAgentStats: "Let the module reach edgeAgent's metrics (http://edgeAgent:9600/metrics, on the azure-iot-edge " +
		"network), or give their address with --edgeagent-metrics URL.",
	NeedCerts: "Let the module read the Edge CA: reach edgeHub's TLS endpoint (edgeHub on 8883, 5671 or 443, on the " +
		"azure-iot-edge network) or the workload API's trust bundle (IOTEDGE_WORKLOADURI, which edgeAgent gives a module).",
	NeedProbes: "Let the module resolve and reach IoT Hub and the registries (DNS, then TLS on 443 and 8883, through the " +
		"device's proxy if it has one); on an air-gapped device, run with --no-probes to skip these checks instead.",
	NeedManifest: "Give the deployment manifest with --manifest FILE.",
	FactRule: "Correct the rule in the policy: its expression must evaluate to true or false for every subject it is " +
		"given.",
}

// FactRule is what a policy rule's Error result could not do: evaluate its
// expression.
const FactRule facts.Fact = "rule"

// factInternal marks a result of a check that failed internally.
const factInternal facts.Fact = "internal"

// internalFix is the fix of a check that failed internally (a panic).
const internalFix = "This is a bug of edge-readiness, not of the device: report it with the facts of the run " +
	"(--save-snapshot FILE, which --snapshot FILE replays)."

// undecidedFix is what would let a check decide: the fix of each fact
// named, in order, each once; "" when none is known.
func undecidedFix(fs []facts.Fact) string {
	var out []string
	seen := map[string]bool{}
	for _, f := range fs {
		if t := factFixes[f]; t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}
