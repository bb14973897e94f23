// Command photoshoot-local runs the whole Photoshoot Studio suite on one
// machine: PostgreSQL, NATS, the five services and the gateway. `make run`
// builds the binaries and starts it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/connectengine/photoshoot/deploy/local/internal/runner"
)

func main() {
	root := flag.String("root", "", "repository root (default: the current directory)")
	data := flag.String("data", "", "data directory, kept across runs (default: <root>/.data)")
	bin := flag.String("bin", "", "directory holding the six service binaries (default: <root>/bin)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal a second one kills the runner at once; the
	// children still get SIGTERM through their parent-death signal.
	context.AfterFunc(ctx, stop)
	err := runner.Run(ctx, runner.Config{
		Root: *root, DataDir: *data, BinDir: *bin,
		Getenv: os.Getenv, Environ: os.Environ(), Stdout: os.Stdout,
	})
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "photoshoot-local: %v\n", err)
		os.Exit(1)
	}
}
