package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/progress"
)

func init() { commands = append(commands, newPushCommand) }

func newPushCommand(c *CLI) *cobra.Command {
	var opts engine.PushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Long: `Push uploads a local image to the registry its name points at: tag it first
with "strata tag IMAGE HOST/REPO:TAG".

Each layer is first asked for (HEAD): one the registry has prints "Layer already
exists" and is not sent, so pushing an image again costs a few requests. A layer
known to be in another repository of the same registry is mounted from there
("Mounted from REPO"). The others are uploaded four at a time in chunks; a push
that is interrupted resumes, the next time, from the offset the registry reports.
The config and the manifest go last, and the manifest's digest is printed as
"TAG: digest: sha256:... size: N".

A layer whose compressed blob is no longer kept is rebuilt byte for byte from its
snapshot and gzipped on all cores; its new digest is remembered so that later
pushes skip it.

Registries and credentials are chosen as for "strata pull".`,
		Example: `  strata tag busybox localhost:5000/tools/busybox:1.36
  strata push localhost:5000/tools/busybox:1.36
  strata push -a localhost:5000/tools/busybox`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			var p *progress.Printer
			if !opts.Quiet {
				errOut := cmd.ErrOrStderr()
				p = progress.NewPrinter(errOut, progress.IsTerminal(errOut))
				opts.Progress = p.Reporter()
			}
			desc, err := e.Push(cmd.Context(), args[0], opts)
			if p != nil {
				p.Close()
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), desc.Digest)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.All, "all-tags", "a", false, "push every local tag of the repository")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only the manifest digest, no progress")
	return cmd
}
