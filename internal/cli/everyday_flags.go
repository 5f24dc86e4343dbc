package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// everydayFlags are run and create's labels, stop settings, --cidfile,
// --expose and the namespace choices (--ipc, --pid, --uts).
type everydayFlags struct {
	labels      []string
	labelFiles  []string
	stopSignal  string
	stopTimeout int
	cidfile     string
	expose      []string
	ipc, pid    string
	uts         string
	health      healthFlags
	logDriver   string
	logOpts     []string
}

func addEverydayFlags(fs *pflag.FlagSet, f *everydayFlags) {
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "set a label on the container: KEY=VALUE (or KEY, empty)")
	fs.StringArrayVar(&f.labelFiles, "label-file", nil, "read labels from a file of KEY=VALUE lines")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "signal to stop the container (default: the image's STOPSIGNAL, else SIGTERM)")
	fs.IntVar(&f.stopTimeout, "stop-timeout", 0, "seconds stop waits before SIGKILL (default 10; -1 waits forever)")
	fs.StringVar(&f.cidfile, "cidfile", "", "write the container ID to this file (which must not exist)")
	fs.StringArrayVar(&f.expose, "expose", nil, "expose a port or a range (PORT[-PORT][/PROTO]) without publishing it (-P publishes it)")
	fs.StringVar(&f.ipc, "ipc", "", "IPC namespace: private (default), shareable, none or host")
	fs.StringVar(&f.pid, "pid", "", "PID namespace: host to share the host's")
	fs.StringVar(&f.uts, "uts", "", "UTS namespace: host to share the host's hostname")
	addHealthFlags(fs, &f.health)
	fs.StringVar(&f.logDriver, "log-driver", "json-file", "logging driver: json-file or none")
	fs.StringArrayVar(&f.logOpts, "log-opt", nil, "log driver option: max-size=SIZE (10m), max-file=N (files kept when rotating)")
}

func (f *everydayFlags) apply(fs *pflag.FlagSet, o *engine.CreateOptions) error {
	labels, err := engine.ParseLabels(f.labelFiles, f.labels)
	if err != nil {
		return err
	}
	o.Labels = labels
	o.StopSignal = f.stopSignal
	if fs.Changed("stop-timeout") {
		t := f.stopTimeout
		o.StopTimeout = &t
	}
	o.Expose = f.expose
	o.Namespaces = engine.Namespaces{IPC: f.ipc, PID: f.pid, UTS: f.uts}
	if o.Healthcheck, err = f.health.healthcheck(fs); err != nil {
		return err
	}
	if o.LogConfig, err = engine.ParseLogConfig(f.logDriver, f.logOpts); err != nil {
		return err
	}
	if f.cidfile != "" {
		// Refused before anything is made, as docker does.
		if _, err := os.Lstat(f.cidfile); err == nil {
			return fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s: %w", f.cidfile, errdefs.ErrConflict)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cidfile: %w", err)
		}
	}
	return nil
}

// writeCIDFile writes the new container's ID to --cidfile, if given.
func (f *everydayFlags) writeCIDFile(id string) error {
	if f.cidfile == "" {
		return nil
	}
	file, err := os.OpenFile(f.cidfile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write the container ID file: %w", err)
	}
	_, err = file.WriteString(id)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the container ID file %s: %w", f.cidfile, err)
	}
	return nil
}
