// Package testenv holds helpers for tests that run against a real Docker
// engine: finding the engine (RequireDocker), the local images the tests use
// (BusyboxImage, GoToolchainImage, BuildImage; nothing is ever pulled), and a
// simulated IoT Edge device (Device) whose containers look to the engine as
// the IoT Edge runtime creates them.
//
// Nothing a test runs reaches beyond the machine: the device's
// azure-iot-edge network is internal (the host reaches the containers, the
// containers reach nothing outside), and HermeticCommand runs a program with
// a resolv.conf that names no working server.
//
// Device containers have the fixed names IoT Edge gives them (edgeAgent,
// edgeHub, ...) and share the azure-iot-edge network, so no two devices may
// run at once, in one package or across packages: Device.Start waits its
// turn (hostlock.Modules) and holds it until the test ends, so a test that
// starts a device may call t.Parallel and packages may run side by side.
// StartEmulator gives each in-process edgeHub port 8883 on a loopback address
// of its own (hostlock.EdgeHubHost).
package testenv
