// Package edgeenv reads the environment the IoT Edge runtime gives a module.
package edgeenv

import (
	"fmt"
	"strings"
)

// Env is the module's IoT Edge identity and endpoints.
type Env struct {
	WorkloadURI     string // IOTEDGE_WORKLOADURI
	DeviceID        string // IOTEDGE_DEVICEID
	ModuleID        string // IOTEDGE_MODULEID
	GenerationID    string // IOTEDGE_MODULEGENERATIONID
	IoTHubHostname  string // IOTEDGE_IOTHUBHOSTNAME
	GatewayHostname string // IOTEDGE_GATEWAYHOSTNAME
	APIVersion      string // IOTEDGE_APIVERSION (optional)
}

// Required lists the variables module mode cannot do without.
var Required = []string{
	"IOTEDGE_WORKLOADURI", "IOTEDGE_DEVICEID", "IOTEDGE_MODULEID", "IOTEDGE_MODULEGENERATIONID",
	"IOTEDGE_IOTHUBHOSTNAME", "IOTEDGE_GATEWAYHOSTNAME",
}

// MissingError names the variables that are not set.
type MissingError struct{ Missing []string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("not running as an IoT Edge module: %s not set (use `check` to run outside IoT Edge)",
		strings.Join(e.Missing, ", "))
}

// Load reads the environment through getenv.
func Load(getenv func(string) string) (Env, error) {
	var missing []string
	for _, k := range Required {
		if strings.TrimSpace(getenv(k)) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Env{}, &MissingError{Missing: missing}
	}
	return Env{
		WorkloadURI: getenv("IOTEDGE_WORKLOADURI"), DeviceID: getenv("IOTEDGE_DEVICEID"), ModuleID: getenv("IOTEDGE_MODULEID"),
		GenerationID: getenv("IOTEDGE_MODULEGENERATIONID"), IoTHubHostname: getenv("IOTEDGE_IOTHUBHOSTNAME"),
		GatewayHostname: getenv("IOTEDGE_GATEWAYHOSTNAME"), APIVersion: getenv("IOTEDGE_APIVERSION"),
	}, nil
}
