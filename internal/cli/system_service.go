package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/api"
	"github.com/strata-project/strata/internal/engine"
)

func newServiceCommand(c *CLI) *cobra.Command {
	var idle int
	cmd := &cobra.Command{
		Use:   "service [OPTIONS] [URI...]",
		Short: "Serve the Docker Engine API on a socket",
		Long: `Service serves the Docker Engine API (versions ` + api.MinVersion + ` to ` + api.MaxVersion + `), so that the
docker CLI, docker-compose, the Docker SDKs and testcontainers drive Strata, as
"podman system service" does for Podman. It is not a daemon Strata needs: it
is one more front end over the same store, so what the docker CLI does through
it shows in "strata images" and back. Killing it (even with kill -9) loses
nothing; start it again at any time.

URI is unix:///PATH (default ` + api.DefaultURI + `, mode 0660, group
"docker" when it exists, as dockerd's socket) or tcp://127.0.0.1:PORT
(loopback only: whoever reaches the API is root on this machine). A socket
left by a killed server is replaced; one another server answers on is refused.

Served today: _ping, version, info, auth (docker login), the image
endpoints (list, inspect, history, tag, remove, prune, pull, push, save,
load) and the container endpoints docker run, ps, logs, stop and rm use
(create, attach before start, start, wait, list, inspect, logs, stop,
restart, kill, pause, unpause, remove), exec, archive (docker cp) and
build (the classic POST /build, with Strata's builder), stats and networks.
Other endpoints answer 501 naming
themselves; swarm answers 503.`,
		Example: `  strata system service &
  DOCKER_HOST=unix:///run/strata/docker.sock docker images
  strata system service --time 60 unix:///run/user-docker.sock`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if idle < 0 {
				return fmt.Errorf("--time %d: want seconds >= 0 (0: never exit when idle)", idle)
			}
			if len(args) == 0 {
				args = []string{api.DefaultURI}
			}
			var ls []net.Listener
			defer func() {
				for _, l := range ls {
					l.Close()
				}
			}()
			for _, uri := range args {
				l, err := api.Listen(uri)
				if err != nil {
					return err
				}
				ls = append(ls, l)
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			srv := api.New(e, api.Options{Version: engine.Version().Version})
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			errc := make(chan error, len(ls))
			for _, l := range ls {
				go func(l net.Listener) { errc <- hs.Serve(l) }(l)
				fmt.Fprintf(cmd.ErrOrStderr(), "serving the Docker Engine API on %s\n", l.Addr())
			}
			if idle > 0 {
				go exitWhenIdle(ctx, srv, time.Duration(idle)*time.Second, cancel)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, http.ErrServerClosed) {
					return err
				}
			case <-ctx.Done():
			}
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			hs.Shutdown(sctx)
			return nil
		},
	}
	cmd.Flags().IntVarP(&idle, "time", "t", 0, "exit after this many seconds without requests (0: never)")
	return cmd
}

// exitWhenIdle cancels once the server has had no request for d.
func exitWhenIdle(ctx context.Context, srv *api.Server, d time.Duration, cancel func()) {
	t := time.NewTicker(d / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if since := srv.IdleSince(); !since.IsZero() && time.Since(since) >= d {
				cancel()
				return
			}
		}
	}
}
