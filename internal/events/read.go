package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ReadOptions say which events Read passes on.
type ReadOptions struct {
	// Since and Until bound the events' times (zero: no bound). Without
	// Until, Read follows the journal until ctx is done; with an Until
	// in the future, until then.
	Since, Until time.Time
	// Follow reads on as events are appended (without it Read stops at
	// the journal's end). A follower without Since or Until passes only
	// the events appended after it began, as docker events does.
	Follow bool
	Filter Filter
}

// Read passes the journal's events that opts select to emit, oldest
// first, and returns when the journal's end is reached (Follow unset),
// when Until passes, when ctx is done (nil then), or with emit's error.
func (j *Journal) Read(ctx context.Context, opts ReadOptions, emit func(Message) error) error {
	if err := os.MkdirAll(j.dir, 0o700); err != nil {
		return fmt.Errorf("event journal: %w", err)
	}
	follow := opts.Follow && (opts.Until.IsZero() || opts.Until.After(time.Now()))
	var w *watch
	if follow {
		// Watch before reading, so no append between the two is missed.
		var err error
		if w, err = newWatch(j.dir); err != nil {
			return err
		}
		defer w.close()
	}
	sinceNano := opts.Since.UnixNano()
	if opts.Since.IsZero() {
		sinceNano = 0
		if opts.Follow && opts.Until.IsZero() {
			sinceNano = time.Now().UnixNano()
		}
	}
	untilNano := int64(1<<63 - 1)
	if !opts.Until.IsZero() {
		untilNano = opts.Until.UnixNano()
	}
	done := false
	pass := func(m Message) error {
		if m.TimeNano > untilNano {
			done = true
			return nil
		}
		if m.TimeNano < sinceNano || !opts.Filter.Match(m) {
			return nil
		}
		return emit(m)
	}
	if b, err := os.ReadFile(filepath.Join(j.dir, oldFile)); err == nil {
		if _, err := scan(b, pass); err != nil {
			return err
		}
	}
	cur := &tail{path: filepath.Join(j.dir, currentFile)}
	defer cur.close()
	if err := cur.read(pass); err != nil {
		return err
	}
	if !follow || done {
		return nil
	}
	var deadline <-chan time.Time
	if !opts.Until.IsZero() {
		t := time.NewTimer(time.Until(opts.Until))
		defer t.Stop()
		deadline = t.C
	}
	// Ends when ctx is done or Until passes (the watch is closed, which
	// wakes its reader), or when the watch fails.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
		case <-deadline:
		case <-stop:
			return
		}
		w.close()
	}()
	for !done {
		if err := w.wait(); err != nil {
			if ctx.Err() != nil || w.closed() {
				// The end asked for: what was appended before it counts.
				return cur.read(pass)
			}
			return err
		}
		if err := cur.read(pass); err != nil {
			return err
		}
	}
	return nil
}

// scan passes every complete line of b that parses to pass and returns
// how many bytes it used (up to the last newline).
func scan(b []byte, pass func(Message) error) (int, error) {
	used := 0
	for {
		i := bytes.IndexByte(b[used:], '\n')
		if i < 0 {
			return used, nil
		}
		line := b[used : used+i]
		used += i + 1
		var m Message
		if len(line) == 0 || json.Unmarshal(line, &m) != nil {
			continue // torn by a crash
		}
		if err := pass(m); err != nil {
			return used, err
		}
	}
}

// tail reads the current journal file as it grows, across rotations.
type tail struct {
	path string
	f    *os.File
	buf  []byte // a line not yet ended
}

// read passes what was appended since the last read; if the file was
// rotated, it reads the old one to its end and goes on with the new.
func (t *tail) read(pass func(Message) error) error {
	for {
		if t.f == nil {
			f, err := os.Open(t.path)
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("event journal: %w", err)
			}
			t.f, t.buf = f, nil
		}
		// Writers rename the file under their lock, so once it is seen
		// rotated nothing more is appended to it: one more read to its end
		// takes what came between the read and the look.
		rotated := t.rotated()
		b, err := io.ReadAll(t.f)
		if err != nil {
			return fmt.Errorf("event journal: %w", err)
		}
		t.buf = append(t.buf, b...)
		n, err := scan(t.buf, pass)
		t.buf = t.buf[n:]
		if err != nil {
			return err
		}
		if !rotated {
			return nil
		}
		// Rotated twice since the last read: the file between the one
		// read and the current one is events.log.1 now; a follower two
		// rotations behind has lost the events of the ones in between.
		ino := inode(t.f)
		t.close()
		old := filepath.Join(filepath.Dir(t.path), oldFile)
		if f, err := os.Open(old); err == nil {
			if inode(f) != ino {
				b, err := io.ReadAll(f)
				if err == nil {
					_, err = scan(b, pass)
				}
				if err != nil {
					f.Close()
					return err
				}
			}
			f.Close()
		}
	}
}

// inode is f's device and inode number.
func inode(f *os.File) [2]uint64 {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return [2]uint64{}
	}
	return [2]uint64{uint64(st.Dev), st.Ino}
}

// rotated reports whether the path now names another file than the one
// open (Append renamed it away).
func (t *tail) rotated() bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(t.f.Fd()), &a) != nil {
		return false
	}
	if unix.Stat(t.path, &b) != nil {
		return false // renamed, the new one not made yet: its creation wakes the follower
	}
	return a.Ino != b.Ino || a.Dev != b.Dev
}

func (t *tail) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// watch is an inotify watch of the journal's directory.
type watch struct {
	f    *os.File
	done chan struct{}
	once sync.Once
}

func newWatch(dir string) (*watch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("event journal: inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("event journal: inotify: %w", err)
	}
	// Non-blocking, so Go's poller waits for it and a Close wakes a Read.
	return &watch{f: os.NewFile(uintptr(fd), "inotify"), done: make(chan struct{})}, nil
}

// wait blocks until something in the directory changed (the events are
// not looked at: the reader reads on in any case).
func (w *watch) wait() error {
	buf := make([]byte, 4096)
	_, err := w.f.Read(buf)
	if errors.Is(err, syscall.EINTR) {
		return nil
	}
	return err
}

func (w *watch) close() {
	w.once.Do(func() {
		close(w.done)
		w.f.Close()
	})
}

func (w *watch) closed() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}
