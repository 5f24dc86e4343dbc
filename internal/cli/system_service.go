package cli

import (
	"context"
	"crypto/tls"
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
	var tlsOn, tlsVerify bool
	var tlsCA, tlsCert, tlsKey string
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
"docker" when it exists, as dockerd's socket) or tcp://HOST:PORT: on a
loopback address, or on another only with --tlsverify and its --tlscacert,
--tlscert and --tlskey (whoever reaches the API is root on this machine). A
socket left by a killed server is replaced; one another server answers on
is refused. Started by systemd socket activation (the README's strata.socket
and strata.service, as podman.socket), it serves the sockets systemd passes.

Served: _ping, version, info, system df, auth (docker login); images (list,
inspect, history, tag, remove, prune, pull, push, save, load, import);
build (the classic POST /build, with Strata's builder); containers
(create, attach before start, start, wait, list, inspect, logs, stop,
restart, kill, pause, unpause, remove, stats, top, resize, export,
changes, rename, update, prune, commit), exec, archive (docker cp) and
networks. Other endpoints answer 501 naming themselves; search answers
501, swarm 503, plugins and distribution 404.`,
		Example: `  strata system service &
  DOCKER_HOST=unix:///run/strata/docker.sock docker images
  strata system service --time 60 unix:///run/user-docker.sock`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if idle < 0 {
				return fmt.Errorf("--time %d: want seconds >= 0 (0: never exit when idle)", idle)
			}
			var tlsConfig *tls.Config
			if tlsOn || tlsVerify {
				var err error
				if tlsConfig, err = api.TLSConfig(tlsCert, tlsKey, tlsCA, tlsVerify); err != nil {
					return err
				}
			}
			// Started by systemd's strata.socket: serve what it passes.
			ls, err := api.SystemdListeners()
			if err != nil {
				return err
			}
			defer func() {
				for _, l := range ls {
					l.Close()
				}
			}()
			if len(args) == 0 && len(ls) == 0 {
				args = []string{api.DefaultURI}
			}
			for _, uri := range args {
				l, err := api.Listen(uri, tlsConfig)
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
	cmd.Flags().BoolVar(&tlsOn, "tls", false, "serve tcp:// over TLS (--tlscert, --tlskey)")
	cmd.Flags().BoolVar(&tlsVerify, "tlsverify", false, "serve tcp:// over TLS and accept only clients with a certificate signed by --tlscacert")
	cmd.Flags().StringVar(&tlsCA, "tlscacert", "", "the CA whose client certificates --tlsverify accepts")
	cmd.Flags().StringVar(&tlsCert, "tlscert", "", "the server's TLS certificate (PEM)")
	cmd.Flags().StringVar(&tlsKey, "tlskey", "", "the server's TLS key (PEM)")
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
