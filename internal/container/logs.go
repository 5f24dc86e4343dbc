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
	f, err := os.Open(s.logPath(c.ID))
	if errors.Is(err, os.ErrNotExist) {
		if !opts.Follow {
			return nil
		}
		// Not started yet: follow from when it appears.
		for {
			if f, err = os.Open(s.logPath(c.ID)); err == nil {
				break
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
	defer f.Close()

	var off int64
	if opts.TailSet && opts.Tail >= 0 {
		var all []runtime.LogEntry
		n, err := runtime.ReadLog(f, func(e runtime.LogEntry) bool {
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
		n, err := runtime.ReadLog(f, func(e runtime.LogEntry) bool { emit(e); return true })
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
		running := err == nil && st.Running
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
		n, err := runtime.ReadLog(f, func(e runtime.LogEntry) bool { emit(e); return true })
		if err != nil {
			return err
		}
		off += n
		if !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
