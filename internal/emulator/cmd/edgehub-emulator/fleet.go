package main

import "time"

// sampleFleet returns the reported properties of the i-th device of a
// sample fleet, a mix in the shape the readiness module writes: per ten
// devices four ready, two degraded, three not ready and one that never
// reported; every seventh device's heartbeat is three hours old (stale at
// the default one-hour interval).
func sampleFleet(now time.Time) func(i int) map[string]any {
	return func(i int) map[string]any {
		if i%10 == 9 {
			return nil
		}
		hb := now.Add(-time.Duration(i%50) * time.Minute)
		if i%7 == 0 {
			hb = now.Add(-3 * time.Hour)
		}
		ts := hb.UTC().Format(time.RFC3339)
		fail := func(id, severity, status, msg string) map[string]any {
			return map[string]any{"id": id, "severity": severity, "status": status, "msg": msg}
		}
		status, score := "ready", 100-i%7
		var failing []any
		checks := map[string]any{"docker-socket-mounts": "pass", "log-rotation": "pass", "module-resource-limits": "pass", "clock-skew": "pass"}
		switch i % 10 {
		case 4, 5:
			status, score = "degraded", 70-i%5
			failing = append(failing, fail("log-rotation", "warning", "fail", "module simulatedSensor: no log rotation (json-file without max-size)"))
			checks["log-rotation"] = "fail"
		case 6, 7, 8:
			status, score = "notReady", 30-i%9
			failing = append(failing, fail("docker-socket-mounts", "critical", "fail", "module telemetryFwd mounts /var/run/docker.sock read-write"))
			checks["docker-socket-mounts"] = "fail"
			if i%10 == 8 {
				failing = append(failing, fail("module-resource-limits", "critical", "fail", "module telemetryFwd has no memory limit"))
				checks["module-resource-limits"] = "fail"
			}
			if i%3 == 0 {
				failing = append(failing, fail("clock-skew", "warning", "error", "cannot read the reference time"))
				checks["clock-skew"] = "error"
			}
		}
		if failing == nil {
			failing = []any{}
		}
		return map[string]any{"readiness": map[string]any{
			"schemaVersion": "1", "status": status, "score": score, "lastRun": ts, "heartbeat": ts, "durationMs": 800 + i,
			"counts":  map[string]any{"total": 64, "fail": len(failing), "pass": 64 - len(failing)},
			"checks":  checks,
			"failing": failing, "failingOmitted": 0,
		}}
	}
}
