package cli

import (
	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newExecCommand) }

func newExecCommand(c *CLI) *cobra.Command {
	var o engine.ExecOptions
	var interactive bool
	var env, envFiles []string
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Long: `Exec runs another process in a running container's namespaces, with the
container's environment, user and working directory unless -e, -u or -w say
otherwise, and exits with its status (126 when it cannot be run, 127 when it
is not found). -i passes standard input; -t gives the process a terminal
(standard input is put in raw mode when it is one); -d starts it in the
background and returns at once.`,
		Example: `  strata exec web ls /www
  strata exec -it web sh
  strata exec -e DEBUG=1 -w /tmp -u nobody web env`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := resolveEnv(envFiles, env)
			if err != nil {
				return &ExitError{Code: 125, Err: err}
			}
			o.Env, o.Cmd = e, args[1:]
			if interactive && o.Tty && !o.Detach {
				if err := checkTTY(c.Stdin); err != nil {
					return err
				}
			}
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return &ExitError{Code: 125, Err: err}
			}
			stdio := engine.IO{Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
			if interactive {
				stdio.Stdin = c.Stdin
			}
			if o.Tty && !o.Detach {
				t := openTerminal(c.Stdin, cmd.OutOrStdout())
				defer t.restore()
				first := <-t.sizes
				o.ConsoleSize, o.Resize = &first, t.sizes
			}
			code, err := s.ExecContainer(cmd.Context(), args[0], o, stdio)
			if err != nil {
				return &ExitError{Code: code, Err: err}
			}
			if code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&interactive, "interactive", "i", false, "keep standard input open")
	f.BoolVarP(&o.Tty, "tty", "t", false, "allocate a pseudo-terminal")
	f.BoolVarP(&o.Detach, "detach", "d", false, "run the command in the background")
	f.StringArrayVarP(&env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to pass the caller's)")
	f.StringArrayVar(&envFiles, "env-file", nil, "read environment variables from a file")
	f.StringVarP(&o.WorkingDir, "workdir", "w", "", "working directory inside the container")
	f.StringVarP(&o.User, "user", "u", "", "user to run as: name|uid[:group|gid]")
	return cmd
}
