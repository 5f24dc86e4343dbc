// Command strata is a daemonless container image engine and registry.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/strata-project/strata/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
