package runtime

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"

	"github.com/strata-project/strata/internal/errdefs"
)

// LogConfig is run's --log-driver and --log-opt, in inspect's shape
// (HostConfig.LogConfig). The zero value is docker's default: json-file,
// never rotated.
type LogConfig struct {
	// Type is json-file ("" means it too) or none (the output is kept
	// nowhere; logs cannot read it).
	Type string `json:"Type"`
	// Config are the --log-opt values: max-size (docker's units, 1k =
	// 1000 bytes) and max-file (files kept, the live one included; 1 by
	// default) for json-file.
	Config map[string]string `json:"Config"`
}

// The log drivers Strata has.
const (
	LogDriverJSONFile = "json-file"
	LogDriverNone     = "none"
)

// ErrLogsNotReadable is logs of a container whose driver keeps nothing.
var ErrLogsNotReadable = fmt.Errorf("configured logging driver does not support reading: %w", errdefs.ErrInvalidArgument)

// ParseLogConfig reads --log-driver and the --log-opt KEY=VALUE values,
// refusing what docker's json-file and none drivers refuse.
func ParseLogConfig(driver string, opts []string) (LogConfig, error) {
	c := LogConfig{Type: driver, Config: map[string]string{}}
	switch driver {
	case "", LogDriverJSONFile:
		c.Type = LogDriverJSONFile
	case LogDriverNone:
	default:
		return c, fmt.Errorf("invalid --log-driver %q: want json-file or none: %w", driver, errdefs.ErrInvalidArgument)
	}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return c, fmt.Errorf("invalid --log-opt %q: want KEY=VALUE: %w", o, errdefs.ErrInvalidArgument)
		}
		c.Config[k] = v
	}
	return c, c.Check()
}

// Check refuses an option the driver does not know or a value it cannot
// take.
func (c LogConfig) Check() error {
	known := []string{"max-size", "max-file", "compress"}
	if c.Type == LogDriverNone {
		known = nil
	}
	for _, k := range slices.Sorted(maps.Keys(c.Config)) {
		if !slices.Contains(known, k) {
			return fmt.Errorf("unknown log opt '%s' for %s log driver (want %s): %w", k, c.driver(), wantOpts(known), errdefs.ErrInvalidArgument)
		}
	}
	if v, ok := c.Config["max-size"]; ok {
		if n, err := units.FromHumanSize(v); err != nil || n <= 0 {
			return fmt.Errorf("invalid --log-opt max-size=%s: want a positive size (10m, 1k): %w", v, errdefs.ErrInvalidArgument)
		}
	}
	if v, ok := c.Config["max-file"]; ok {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return fmt.Errorf("invalid --log-opt max-file=%s: want a number of files, at least 1: %w", v, errdefs.ErrInvalidArgument)
		}
	}
	if v, ok := c.Config["compress"]; ok && v != "false" {
		return fmt.Errorf("invalid --log-opt compress=%s: rotated logs are kept uncompressed (compress=false): %w", v, errdefs.ErrInvalidArgument)
	}
	return nil
}

func wantOpts(known []string) string {
	if len(known) == 0 {
		return "none"
	}
	return strings.Join(known, ", ")
}

func (c LogConfig) driver() string {
	if c.Type == "" {
		return LogDriverJSONFile
	}
	return c.Type
}

// Readable reports whether logs can read what the driver keeps.
func (c LogConfig) Readable() bool { return c.driver() == LogDriverJSONFile }

// rotation is the json-file's max-size (0: no limit) and max-file.
func (c LogConfig) rotation() (maxSize int64, maxFile int) {
	maxFile = 1
	if v, ok := c.Config["max-size"]; ok {
		maxSize, _ = units.FromHumanSize(v)
	}
	if v, ok := c.Config["max-file"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			maxFile = n
		}
	}
	return maxSize, maxFile
}

// LogFiles are the files of a json-file log at path, oldest first: the
// rotated ones (path.N … path.1) that exist, then path itself.
func LogFiles(path string) []string {
	var rotated []string
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Lstat(p); err != nil {
			break
		}
		rotated = append(rotated, p)
	}
	slices.Reverse(rotated)
	return append(rotated, path)
}

// openLog opens the container's log as its driver keeps it: nothing for
// none, else the json-file at path, appended to and rotated by size. Only
// one process writes it at a time (the monitor, or the standby after it);
// logWriter's lock orders the writes.
func openLog(path string, c LogConfig) (io.WriteCloser, error) {
	if !c.Readable() {
		return nopCloser{io.Discard}, nil
	}
	maxSize, maxFile := c.rotation()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	if maxSize <= 0 {
		return f, nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rotatingLog{path: path, f: f, size: fi.Size(), maxSize: maxSize, maxFile: maxFile}, nil
}

// CreateLog makes the container's log (empty) before its monitor starts, so
// that a follower coming right after the start (docker-py's run: start,
// then logs?follow, then wait and remove) opens it even when the container
// has run, been removed and taken its directory by then.
func CreateLog(path string, c LogConfig) error {
	w, err := openLog(path, c)
	if err != nil {
		return err
	}
	return w.Close()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// rotatingLog is docker's json-file rotation: before a write, a file that
// has reached maxSize is renamed to path.1 (path.1 to path.2, and so on,
// the oldest past maxFile-1 dropped) and a new one started; with maxFile 1
// the file is emptied instead. Each write is one whole entry, so no entry
// is split across files.
type rotatingLog struct {
	path    string
	f       *os.File
	size    int64
	maxSize int64
	maxFile int
}

func (r *rotatingLog) Write(p []byte) (int, error) {
	if r.size >= r.maxSize {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *rotatingLog) rotate() error {
	if r.maxFile <= 1 {
		if err := r.f.Truncate(0); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
		r.size = 0
		return nil
	}
	for i := r.maxFile - 1; i >= 1; i-- {
		from := r.path
		if i > 1 {
			from = r.path + "." + strconv.Itoa(i-1)
		}
		if err := os.Rename(from, r.path+"."+strconv.Itoa(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	r.f.Close()
	r.f, r.size = f, 0
	return nil
}

func (r *rotatingLog) Close() error { return r.f.Close() }
