package edgeenv

import (
	"errors"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	full := map[string]string{
		"IOTEDGE_WORKLOADURI": "unix:///var/run/iotedge/workload.sock", "IOTEDGE_DEVICEID": "d1", "IOTEDGE_MODULEID": "readiness",
		"IOTEDGE_MODULEGENERATIONID": "g1", "IOTEDGE_IOTHUBHOSTNAME": "h.azure-devices.net", "IOTEDGE_GATEWAYHOSTNAME": "gw",
	}
	env, err := Load(func(k string) string { return full[k] })
	if err != nil || env.ModuleID != "readiness" || env.GatewayHostname != "gw" || env.WorkloadURI == "" {
		t.Fatalf("Load = %+v, %v", env, err)
	}
	delete(full, "IOTEDGE_DEVICEID")
	full["IOTEDGE_GATEWAYHOSTNAME"] = "  "
	_, err = Load(func(k string) string { return full[k] })
	var me *MissingError
	if !errors.As(err, &me) || strings.Join(me.Missing, ",") != "IOTEDGE_DEVICEID,IOTEDGE_GATEWAYHOSTNAME" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "use `check`") {
		t.Errorf("message does not point at check: %v", err)
	}
}
