package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// CLI holds the global flags and the lazily opened engine.
type CLI struct {
	Root          string
	StorageDriver string
	BlobCacheSize string
	Stdin         io.Reader

	eng *engine.Engine
}

// Engine opens the store on first use.
func (c *CLI) Engine(ctx context.Context) (*engine.Engine, error) {
	if c.eng != nil {
		return c.eng, nil
	}
	e, err := engine.Open(ctx, engine.Options{Root: c.Root, StorageDriver: c.StorageDriver, BlobCacheSize: c.BlobCacheSize})
	if err != nil {
		return nil, err
	}
	c.eng = e
	return e, nil
}

// Close releases the engine.
func (c *CLI) Close() error {
	if c.eng != nil {
		return c.eng.Close()
	}
	return nil
}

// ExitError carries a process exit status other than 1 (docker run's
// 125/126/127 or a container's own status).
type ExitError struct {
	Code int
	Err  error // nil: exit silently with Code
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// commands is the list of verb constructors; each file adds its own.
var commands []func(c *CLI) *cobra.Command

// NewRootCommand builds the strata command tree.
func NewRootCommand() (*cobra.Command, *CLI) {
	c := &CLI{Stdin: os.Stdin}
	root := &cobra.Command{
		Use:   "strata",
		Short: "A daemonless container image engine and registry",
		Long: `Strata builds, stores, runs and ships container images without a daemon.

Every layer is stored once under its sha256 digest, shared by every image that
uses it and verified whenever it moves. Images are unpacked once per layer into
snapshots that containers mount with overlayfs. The same verbs, flags and output
shapes as the docker CLI.

The store lives in --root (default /var/lib/strata, or $STRATA_ROOT).`,
		Example: `  strata run --rm busybox echo hello
  strata run -d --name web -p 8080:80 busybox httpd -f -p 80 -h /www
  strata ps
  strata build -t app:1 .
  strata push localhost:5000/app:1
  strata system df -v`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       engine.Version().Version,
	}
	root.SetVersionTemplate("Strata version {{.Version}}\n")
	defRoot := os.Getenv("STRATA_ROOT")
	if defRoot == "" {
		defRoot = engine.DefaultRoot
	}
	root.PersistentFlags().StringVar(&c.Root, "root", defRoot, "where Strata keeps its store (or $STRATA_ROOT)")
	root.PersistentFlags().StringVar(&c.BlobCacheSize, "blob-cache-size", "", "bytes of compressed layer blobs kept beside the unpacked layers, least recently used evicted first; 0 keeps none (default: $STRATA_BLOB_CACHE_SIZE, else blob-cache-size in the store's config.json, else 0)")
	root.PersistentFlags().StringVar(&c.StorageDriver, "storage-driver", os.Getenv("STRATA_STORAGE_DRIVER"), "snapshotter: overlay or native (default: the store's, else overlay where it mounts)")
	for _, f := range commands {
		root.AddCommand(f(c))
	}
	dockerUsage(root)
	groupVerbs(root)
	return root, c
}

// Main runs the CLI and returns the process exit code.
func Main(ctx context.Context, args []string) int {
	root, c := NewRootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	c.Close()
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(os.Stderr, "Error:", errdefs.Message(ee.Err))
		}
		return ee.Code
	}
	fmt.Fprintln(os.Stderr, "Error:", errdefs.Message(err))
	return 1
}
