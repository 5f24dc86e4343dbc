package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newLoginCommand, newLogoutCommand) }

func newLoginCommand(c *CLI) *cobra.Command {
	var user, pass string
	var passStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry",
		Long: `Login checks a username and password against a registry (its /v2/ endpoint,
answering the Basic or Bearer-token challenge it gives) and, when they are good,
stores them the way docker does: in the credential helper named by "credsStore" or
"credHelpers" of ~/.docker/config.json (or $DOCKER_CONFIG/config.json), else base64
in its "auths", keeping every other key of the file, with mode 0600. docker and
Strata therefore share logins.

Without SERVER it logs in to docker.io. Without -u the username is asked for, and
without -p or --password-stdin the password is read from the terminal without echo.
--password-stdin reads it from standard input, which keeps it out of the shell
history and the process list.`,
		Example: `  strata login localhost:5000 -u alice
  echo "$TOKEN" | strata login registry.example.com -u ci --password-stdin`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host := ""
			if len(args) == 1 {
				host = args[0]
			}
			host = engine.RegistryHost(host)
			errOut := cmd.ErrOrStderr()
			in := bufio.NewReader(c.Stdin)
			if pass != "" && passStdin {
				return fmt.Errorf("--password and --password-stdin are mutually exclusive: %w", errdefs.ErrInvalidArgument)
			}
			if pass != "" {
				fmt.Fprintln(errOut, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
			}
			if passStdin {
				if user == "" {
					return fmt.Errorf("--password-stdin needs --username: %w", errdefs.ErrInvalidArgument)
				}
				b, err := io.ReadAll(io.LimitReader(in, 64<<10))
				if err != nil {
					return err
				}
				pass = strings.TrimRight(string(b), "\r\n")
			}
			if user == "" {
				fmt.Fprint(errOut, "Username: ")
				line, err := in.ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("login: no username given: %w", errdefs.ErrInvalidArgument)
				}
				user = strings.TrimSpace(line)
			}
			if pass == "" {
				f, ok := c.Stdin.(*os.File)
				if !ok || !term.IsTerminal(int(f.Fd())) {
					return fmt.Errorf("login: no password given and standard input is not a terminal; use --password-stdin: %w", errdefs.ErrInvalidArgument)
				}
				fmt.Fprint(errOut, "Password: ")
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(errOut)
				if err != nil {
					return err
				}
				pass = string(b)
			}
			if user == "" || pass == "" {
				return fmt.Errorf("login: username and password must not be empty: %w", errdefs.ErrInvalidArgument)
			}
			if err := engine.Login(cmd.Context(), host, user, pass); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "username", "u", "", "username")
	f.StringVarP(&pass, "password", "p", "", "password (prefer --password-stdin)")
	f.BoolVar(&passStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newLogoutCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Long: `Logout removes the credentials stored for SERVER (docker.io when none is
given) from docker's config file or its credential helper.`,
		Example: `  strata logout localhost:5000`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host := ""
			if len(args) == 1 {
				host = args[0]
			}
			host = engine.RegistryHost(host)
			found, err := engine.Logout(cmd.Context(), host)
			if err != nil {
				return err
			}
			if !found {
				fmt.Fprintf(cmd.OutOrStdout(), "Not logged in to %s\n", host)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removing login credentials for %s\n", host)
			return nil
		},
	}
}
