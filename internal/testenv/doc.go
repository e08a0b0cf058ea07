// Package testenv holds helpers for tests that run against a real Docker
// engine: finding the engine, building the local images the tests use
// (nothing is ever pulled), and a simulated IoT Edge device whose containers
// look to the engine exactly as the IoT Edge runtime creates them.
//
// Device containers have the fixed names IoT Edge gives them (edgeAgent,
// edgeHub, ...) and share the azure-iot-edge network, so tests that start a
// Device must not run in parallel with each other, in one package or across
// packages: never call t.Parallel in them, and run the packages one at a time
// (go test -p 1 ./..., as .ci/run does).
package testenv
