package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/registry"
)

func init() { commands = append(commands, newRegistryCommand) }

// defaultRegistryRoot keeps a registry's data apart from the engine's
// store (the two use the same blob format, but different owners collect
// their garbage).
func defaultRegistryRoot() string {
	if r := os.Getenv("STRATA_REGISTRY_ROOT"); r != "" {
		return r
	}
	return "/var/lib/strata-registry"
}

func newRegistryCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run and maintain an OCI distribution registry",
		Long: `The registry commands run a private registry that speaks the OCI
distribution-spec v1.1 (what docker, skopeo, crane, oras and strata push and
pull through), and maintain its store: garbage collection while it serves, and
an integrity check.`,
		Example: `  strata registry serve --addr 127.0.0.1:5000 --root /srv/registry
  strata registry gc --url http://127.0.0.1:5000 --dry-run
  strata registry fsck --root /srv/registry`,
	}
	cmd.AddCommand(newRegistryServeCommand(), newRegistryGCCommand(), newRegistryFsckCommand())
	return cmd
}

type serveFlags struct {
	root, config, accessLog string
	opts                    registry.Options
	backends                backendFlags
}

func newRegistryServeCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Serve a registry over HTTP(S)",
		Long: `Serve runs an OCI distribution registry until interrupted (SIGINT or SIGTERM
finish the requests in flight, then exit).

Blobs are stored once across all repositories, in the same content-addressed
format as Strata's image store. With --htpasswd, every request needs Basic auth
checked against a bcrypt htpasswd file (htpasswd -B), re-read when it changes.
With --tls-cert and --tls-key it speaks HTTPS. --read-only refuses writes.
Garbage collection runs on a schedule (--gc-interval) or on demand with
"strata registry gc", without stopping the server.

DELETE of manifests and blobs answers 405 UNSUPPORTED unless --delete (or
delete: true) turns it on, as in distribution.

A YAML --config file may set the same things (keys: addr, root, realm,
htpasswd, tls-cert, tls-key, read-only, gc-grace, gc-interval, upload-expiry,
delete, storage, database); flags given on the command line win. Only the config file holds the
access policy: admins (who may run gc and fsck and do everything), access
rules (the first rule matching the repository and the caller decides; no
match is denied), and auth.token for a distribution-style token server:

  htpasswd: /etc/strata/htpasswd
  admins: [alice]
  access:
    - repos: ["alice/**"]     # * within one path segment, ** any depth
      users: [alice]
      actions: [pull, push, delete]
    - repos: ["public/**"]
      anonymous: true         # requests without credentials
      actions: [pull]
    - repos: ["**"]
      users: ["*"]            # any authenticated user
      actions: [pull]

Without an access section every authenticated user may do everything. Serving
writable without authentication on a non-loopback address prints a warning.

With --storage-s3-* (or storage.s3 in the config) blobs live in an
S3-compatible store, and with --database the index lives in PostgreSQL. With
both, any number of servers with the same configuration behind a load
balancer serve one registry: uploads continue on any of them, GC runs on one
at a time. Secrets may come from $STRATA_REGISTRY_S3_ACCESS_KEY,
$STRATA_REGISTRY_S3_SECRET_KEY and $STRATA_REGISTRY_DATABASE.`,
		Example: `  strata registry serve --addr 127.0.0.1:5000 --root /srv/registry
  htpasswd -Bbc /etc/strata/htpasswd alice s3cret
  strata registry serve --htpasswd /etc/strata/htpasswd --tls-cert cert.pem --tls-key key.pem
  strata registry serve --config /etc/strata/registry.yaml
  STRATA_REGISTRY_S3_SECRET_KEY=... strata registry serve --addr 127.0.0.1:5001 \
    --storage-s3-endpoint http://127.0.0.1:7070 --storage-s3-bucket strata --storage-s3-force-path-style \
    --storage-s3-access-key KEY --database postgres://strata@127.0.0.1/strata`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, root, err := f.resolve(cmd)
			if err != nil {
				return err
			}
			var store *content.Store
			if opts.Storage.S3 == nil {
				if store, err = content.Open(root); err != nil {
					return err
				}
			}
			switch f.accessLog {
			case "", "-":
				opts.AccessLog = cmd.ErrOrStderr()
			case "none":
			default:
				lf, err := os.OpenFile(f.accessLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
				if err != nil {
					return err
				}
				defer lf.Close()
				opts.AccessLog = lf
			}
			scheme := "http"
			if opts.TLSCert != "" {
				scheme = "https"
			}
			if w := registry.ExposureWarning(opts); w != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "strata registry: %s\n", w)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "strata registry: serving %s://%s from %s\n", scheme, opts.Addr, describeBackends(opts, root))
			return registry.Serve(cmd.Context(), store, root, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.opts.Addr, "addr", "127.0.0.1:5000", "address to listen on")
	fl.StringVar(&f.root, "root", defaultRegistryRoot(), "where the registry keeps its data (or $STRATA_REGISTRY_ROOT)")
	fl.StringVar(&f.opts.HtpasswdPath, "htpasswd", "", "require Basic auth against this bcrypt htpasswd file")
	fl.StringVar(&f.opts.Realm, "realm", "strata", "the Basic auth realm")
	fl.StringVar(&f.opts.TLSCert, "tls-cert", "", "TLS certificate file (PEM)")
	fl.StringVar(&f.opts.TLSKey, "tls-key", "", "TLS key file (PEM)")
	fl.BoolVar(&f.opts.ReadOnly, "read-only", false, "refuse every write")
	fl.BoolVar(&f.opts.Delete, "delete", false, "allow DELETE of manifests and blobs")
	fl.StringVar(&f.config, "config", "", "YAML configuration file")
	fl.DurationVar(&f.opts.GCInterval, "gc-interval", 0, "run garbage collection this often (0: only on demand)")
	fl.DurationVar(&f.opts.GCGrace, "gc-grace", time.Hour, "never collect anything younger than this")
	fl.StringVar(&f.accessLog, "access-log", "-", `access log file ("-" for stderr, "none" to turn it off)`)
	f.backends.add(fl)
	return cmd
}

// resolve merges the config file under the flags the user gave.
func (f *serveFlags) resolve(cmd *cobra.Command) (registry.Options, string, error) {
	opts, root := f.opts, f.root
	if f.config == "" {
		if err := f.backends.apply(cmd, &opts); err != nil {
			return opts, root, err
		}
		return opts, root, validateTLS(opts)
	}
	cfg, err := registry.LoadConfig(f.config)
	if err != nil {
		return opts, root, err
	}
	opts.Storage, opts.Database = cfg.Storage, cfg.Database
	if err := f.backends.apply(cmd, &opts); err != nil {
		return opts, root, err
	}
	set := func(name string) bool { return cmd.Flags().Changed(name) }
	if !set("addr") && cfg.Addr != "" {
		opts.Addr = cfg.Addr
	}
	if !set("root") && cfg.Root != "" {
		root = cfg.Root
	}
	if !set("htpasswd") && cfg.HtpasswdPath != "" {
		opts.HtpasswdPath = cfg.HtpasswdPath
	}
	if !set("realm") && cfg.Realm != "" {
		opts.Realm = cfg.Realm
	}
	if !set("tls-cert") && cfg.TLSCert != "" {
		opts.TLSCert = cfg.TLSCert
	}
	if !set("tls-key") && cfg.TLSKey != "" {
		opts.TLSKey = cfg.TLSKey
	}
	if !set("read-only") && cfg.ReadOnly {
		opts.ReadOnly = true
	}
	if !set("gc-interval") && cfg.GCInterval != 0 {
		opts.GCInterval = cfg.GCInterval
	}
	if !set("gc-grace") && cfg.GCGrace != 0 {
		opts.GCGrace = cfg.GCGrace
	}
	if cfg.UploadExpiry != 0 {
		opts.UploadExpiry = cfg.UploadExpiry
	}
	if !set("delete") && cfg.Delete {
		opts.Delete = true
	}
	opts.Admins, opts.Access, opts.Auth = cfg.Admins, cfg.Access, cfg.Auth
	return opts, root, validateTLS(opts)
}

func validateTLS(o registry.Options) error {
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	return nil
}

// adminFlags reach a running registry's admin endpoint, or open its root
// directly when no --url is given.
type adminFlags struct {
	url, root, user, pass string
	insecure              bool
	config                string
	backends              backendFlags
}

func (a *adminFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.url, "url", "", "a running registry (http://127.0.0.1:5000); without it, --root is opened directly")
	cmd.Flags().StringVar(&a.root, "root", defaultRegistryRoot(), "the registry's data directory, when not using --url")
	cmd.Flags().StringVarP(&a.user, "username", "u", "", "user for a registry with htpasswd auth")
	cmd.Flags().StringVarP(&a.pass, "password", "p", "", "password for that user")
	cmd.Flags().BoolVar(&a.insecure, "tls-insecure", false, "accept a self-signed certificate")
	cmd.Flags().StringVar(&a.config, "config", "", "open the storage and database of this registry configuration directly")
	a.backends.add(cmd.Flags())
}

// remote is how to reach a running registry's admin endpoints.
func (a *adminFlags) remote() (string, registry.RemoteOptions) {
	ro := registry.RemoteOptions{Username: a.user, Password: a.pass}
	if a.insecure {
		ro.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // asked for
	}
	return strings.TrimSuffix(a.url, "/"), ro
}

func (a *adminFlags) open(cmd *cobra.Command) (*registry.Registry, error) {
	var opts registry.Options
	if a.config != "" {
		cfg, err := registry.LoadConfig(a.config)
		if err != nil {
			return nil, err
		}
		opts.Storage, opts.Database = cfg.Storage, cfg.Database
		if cfg.Root != "" && !cmd.Flags().Changed("root") {
			a.root = cfg.Root
		}
	}
	if err := a.backends.apply(cmd, &opts); err != nil {
		return nil, err
	}
	if opts.Storage.S3 != nil && opts.Database != "" {
		// Nothing on local disk: S3 holds the blobs, PostgreSQL the index.
		return registry.New(nil, "", opts)
	}
	if _, err := os.Stat(filepath.Join(a.root)); err != nil {
		return nil, fmt.Errorf("registry root %s: %w", a.root, err)
	}
	store, err := content.Open(a.root)
	if err != nil {
		return nil, err
	}
	return registry.New(store, a.root, opts)
}

func newRegistryGCCommand() *cobra.Command {
	var a adminFlags
	var dry, force bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "gc [OPTIONS]",
		Short: "Collect a registry's garbage, while it serves",
		Long: `GC marks everything reachable from tags and referrers (and the manifests of
indexes) and removes untagged manifests and unreferenced blobs older than the
grace window. Uploads and manifest puts inside the window are never touched, so
it is safe against a running registry (a grace below 10 minutes needs --force): with --url it asks that server to
collect; without, it opens --root directly (stop the server first, or use --url).`,
		Example: `  strata registry gc --url http://127.0.0.1:5000 --dry-run
  strata registry gc --url https://registry.internal:5000 -u admin -p secret --grace 10m
  strata registry gc --root /srv/registry`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			opts := registry.GCOptions{DryRun: dry, Out: w, Force: force}
			if cmd.Flags().Changed("grace") {
				opts.Grace = grace
			}
			if err := registry.CheckGCGrace(opts.Grace, force); err != nil {
				return err
			}
			if a.url != "" {
				u, ro := a.remote()
				return registry.RemoteGC(cmd.Context(), u, ro, opts)
			}
			r, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer r.Close()
			st, err := r.GC(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, st)
			return nil
		},
	}
	a.add(cmd)
	cmd.Flags().BoolVar(&dry, "dry-run", false, "print what would be removed, remove nothing")
	cmd.Flags().DurationVar(&grace, "grace", time.Hour, "keep anything younger than this")
	cmd.Flags().BoolVar(&force, "force", false, "allow a grace below 10m (can delete uploads in progress)")
	return cmd
}

func newRegistryFsckCommand() *cobra.Command {
	var a adminFlags
	cmd := &cobra.Command{
		Use:   "fsck [OPTIONS]",
		Short: "Re-hash a registry's blobs and check every link",
		Long: `Fsck re-hashes every stored blob against its digest and checks that every tag,
manifest and repository link points at something present and valid. Problems
are printed one per line and make it exit 1.`,
		Example: `  strata registry fsck --url http://127.0.0.1:5000
  strata registry fsck --root /srv/registry`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if a.url != "" {
				u, ro := a.remote()
				return registry.RemoteFsck(cmd.Context(), u, ro, w)
			}
			r, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer r.Close()
			if err := r.Fsck(cmd.Context(), w); err != nil {
				return err
			}
			fmt.Fprintln(w, "ok")
			return nil
		},
	}
	a.add(cmd)
	return cmd
}
