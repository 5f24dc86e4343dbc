package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/progress"
)

// checkPullFlags refuses a --pull or --platform of run and create that they
// cannot honour, before anything is done.
func checkPullFlags(f *createFlags) error {
	switch f.pull {
	case "missing", "always", "never":
	default:
		return fmt.Errorf("invalid pull option: %q: must be one of \"always\", \"missing\" or \"never\": %w", f.pull, errdefs.ErrInvalidArgument)
	}
	return engine.CheckPlatform(f.platform)
}

// implicitPull gets run's or create's image as docker's CLI does: with
// --pull missing (the default) when the store lacks it, saying so first
// ("Unable to find image 'busybox:latest' locally"); with always every
// time; with never not at all (the run then fails naming the image).
// The progress goes to standard error, as pull's.
func implicitPull(cmd *cobra.Command, e *engine.Engine, ref string, f *createFlags) error {
	if f.pull == "never" {
		return nil
	}
	if f.pull == "missing" {
		ok, err := e.HasImage(cmd.Context(), ref)
		if err != nil || ok {
			return err
		}
		name, err := engine.TaggedName(ref)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "Unable to find image '%s' locally\n", name)
	}
	return pullWithProgress(cmd, e, ref, engine.PullOptions{Platform: f.platform})
}

// pullWithProgress is a pull drawing its progress on standard error.
func pullWithProgress(cmd *cobra.Command, e *engine.Engine, ref string, opts engine.PullOptions) error {
	var p *progress.Printer
	if !opts.Quiet {
		errOut := cmd.ErrOrStderr()
		p = progress.NewPrinter(errOut, progress.IsTerminal(errOut))
		opts.Progress = p.Reporter()
	}
	_, err := e.Pull(cmd.Context(), ref, opts)
	if p != nil {
		p.Close()
	}
	return err
}
