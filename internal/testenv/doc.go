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
// edgeHub, ...) and share the azure-iot-edge network, so tests that start a
// Device must not run in parallel with each other, in one package or across
// packages: never call t.Parallel in them, and run the packages one at a time
// (go test -p 1 ./..., as .ci/run does).
package testenv
