// Command edge-readiness is an Azure IoT Edge module that checks a device
// against the IoT Edge production checklist. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/edge-readiness/edge-readiness/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{Args: os.Args[1:], Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Environ: os.Environ})
	stop()
	os.Exit(code)
}
