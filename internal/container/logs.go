package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/strata-project/strata/internal/runtime"
)

// LogsOptions are logs' flags. Tail < 0 (or the zero value with
// TailSet false) is every line.
type LogsOptions struct {
	Follow     bool
	Timestamps bool
	// Tail is the number of last lines to show when TailSet.
	Tail    int
	TailSet bool
	// Since and Until, when not zero, keep only the entries written at or
	// after Since and at or before Until; following stops at Until.
	Since, Until time.Time
}

// keep says whether an entry falls within Since and Until.
func (o LogsOptions) keep(e runtime.LogEntry) bool {
	return (o.Since.IsZero() || !e.Time.Before(o.Since)) && (o.Until.IsZero() || !e.Time.After(o.Until))
}

// Logs writes the container's log to stdout and stderr by stream. With
// Follow it keeps reading until the container has exited and the log is
// drained, or ctx is done.
func (s *Store) Logs(ctx context.Context, ref string, opts LogsOptions, stdout, stderr io.Writer) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	emit := func(e runtime.LogEntry) {
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		if opts.Timestamps {
			fmt.Fprintf(w, "%s %s", e.Time.UTC().Format(time.RFC3339Nano), e.Log)
			return
		}
		io.WriteString(w, e.Log)
	}
	if !c.Options.LogConfig.Readable() {
		return runtime.ErrLogsNotReadable
	}
	// The rotated files first, oldest first (runtime.LogFiles), then the
	// live one, which a follower reads on.
	path := s.logPath(c.ID)
	files := runtime.LogFiles(path)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if !opts.Follow {
			return nil
		}
		// Not started yet: follow from when it appears, unless the
		// container goes first.
		for {
			if f, err = os.Open(path); err == nil {
				break
			}
			if _, gerr := s.Get(c.ID); gerr != nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	} else if err != nil {
		return fmt.Errorf("logs of %s: %w", c.Name, err)
	}
	defer func() { f.Close() }()
	var rotated []*os.File
	for _, p := range files[:len(files)-1] {
		if rf, err := os.Open(p); err == nil {
			defer rf.Close()
			rotated = append(rotated, rf)
		}
	}
	readAll := func(fn func(runtime.LogEntry) bool) (int64, error) {
		for _, rf := range rotated {
			if _, err := runtime.ReadLog(rf, fn); err != nil {
				return 0, err
			}
		}
		return runtime.ReadLog(f, fn)
	}

	var off int64
	if opts.TailSet && opts.Tail >= 0 {
		var all []runtime.LogEntry
		n, err := readAll(func(e runtime.LogEntry) bool {
			if !opts.keep(e) {
				return true
			}
			all = append(all, e)
			if len(all) > 2*opts.Tail+1024 {
				all = append([]runtime.LogEntry(nil), all[len(all)-opts.Tail:]...)
			}
			return true
		})
		if err != nil {
			return err
		}
		if len(all) > opts.Tail {
			all = all[len(all)-opts.Tail:]
		}
		for _, e := range all {
			emit(e)
		}
		off = n
	} else {
		n, err := readAll(func(e runtime.LogEntry) bool {
			if opts.keep(e) {
				emit(e)
			}
			return true
		})
		if err != nil {
			return err
		}
		off = n
	}
	if !opts.Follow {
		return nil
	}
	for {
		st, err := s.Status(ctx, c.ID)
		// A log without a start recorded yet is a start under way (the
		// monitor opens the log before it writes the status).
		running := err == nil && (st.Running || st.StartedAt.IsZero() && st.FinishedAt.IsZero())
		if _, gerr := s.Get(c.ID); gerr != nil {
			running = false // removed: what its log holds is all there is
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
		n, err := runtime.ReadLog(f, func(e runtime.LogEntry) bool {
			if opts.keep(e) {
				emit(e)
			}
			return true
		})
		if err != nil {
			return err
		}
		off += n
		if !opts.Until.IsZero() && time.Now().After(opts.Until) {
			return nil
		}
		// A stopped container's last lines may be in files the log
		// rotated into after f: the check below reads them before the
		// end.
		truncated := false
		// Rotated under us: read what the old file got since, then go
		// on with the new one from its start. Emptied in place
		// (max-file=1): read it again from its start.
		if nf, err := os.Open(path); err == nil {
			if fi, ferr := f.Stat(); ferr == nil && !sameFile(fi, nf) {
				if _, err := f.Seek(off, io.SeekStart); err == nil {
					_, _ = runtime.ReadLog(f, func(e runtime.LogEntry) bool {
						if opts.keep(e) {
							emit(e)
						}
						return true
					})
				}
				// Rotated more than once since: the files between the
				// old one and the new are read whole, oldest first.
				files := runtime.LogFiles(path)
				from := 0
				for i, p := range files[:len(files)-1] {
					if pfi, err := os.Stat(p); err == nil && os.SameFile(fi, pfi) {
						from = i + 1
					}
				}
				for _, p := range files[from : len(files)-1] {
					if rf, err := os.Open(p); err == nil {
						_, _ = runtime.ReadLog(rf, func(e runtime.LogEntry) bool {
							if opts.keep(e) {
								emit(e)
							}
							return true
						})
						rf.Close()
					}
				}
				f.Close()
				f, off = nf, 0
				continue
			} else if ferr == nil && fi.Size() < off {
				off, truncated = 0, true
			}
			nf.Close()
		}
		if !running {
			if truncated {
				continue // read the emptied file's new lines first
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sameFile(fi os.FileInfo, f *os.File) bool {
	nfi, err := f.Stat()
	return err == nil && os.SameFile(fi, nfi)
}
