package runtime

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The attach socket carries frames both ways: a type byte, a big-endian
// uint32 length, and the payload.
//
//	monitor → client: frameStdout, frameStderr (a tty is all stdout), and
//	                  one frameExit with the exit status as a uint32 last
//	client → monitor: frameStdin, frameStdinClose, frameResize (rows, cols
//	                  as two uint16)
const (
	frameStdin      = 0
	frameStdout     = 1
	frameStderr     = 2
	frameExit       = 3
	frameStdinClose = 4
	frameResize     = 5
)

const maxFrame = 1 << 20

func writeFrame(w io.Writer, typ byte, p []byte) error {
	hdr := make([]byte, 5, 5+len(p))
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	_, err := w.Write(append(hdr, p...))
	return err
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return hdr[0], p, nil
}

// Winsize is a terminal size.
type Winsize struct{ Rows, Cols uint16 }

// AttachOptions are the client's streams. Stdin nil sends nothing; its EOF
// closes the container's stdin. Resize, when set, carries window changes
// of the client's terminal to the container's pty.
type AttachOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Resize         <-chan Winsize
	// OutputClosed, when set, is called once, the first time Stdout or
	// Stderr fails (EPIPE: the reader of a pipe is gone; EIO: a terminal
	// hung up). That stream is not written again; the container's output
	// still goes to its log.
	OutputClosed func(error)
	// DetachKeys, when set, is the sequence (ParseDetachKeys) that, typed
	// on Stdin, detaches: Attach returns ErrDetached and the container
	// runs on, its stdin left open.
	DetachKeys []byte
}

// Attach connects to the monitor of the container in dir, streams until
// the container exits and returns its exit status. The first client to
// attach to a container started with MonitorConfig.Attach starts its
// process, so nothing it prints is missed. If the monitor goes away
// without sending the status, the status file is read instead.
func Attach(ctx context.Context, dir string, o AttachOptions) (int, error) {
	c := takeLocal(dir)
	if c == nil {
		var err error
		if c, err = dialUnixIn(dir, AttachSocket); err != nil {
			return -1, fmt.Errorf("attach: %w", err)
		}
	}
	defer c.Close()
	// Ends when ctx is done or Attach returns (done closed).
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-done:
		}
	}()
	var wmu sync.Mutex
	send := func(typ byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(c, typ, p)
	}
	var detached atomic.Bool
	if o.Stdin != nil {
		// Ends at the stdin's EOF or error, at the detach sequence, or
		// when the connection is closed; a terminal stdin that never ends
		// leaks until exit, as docker's does.
		go func() {
			buf := make([]byte, 32*1024)
			keys := &detachScanner{keys: o.DetachKeys}
			for {
				n, err := o.Stdin.Read(buf)
				p, detach := keys.scan(buf[:n])
				if len(p) > 0 && send(frameStdin, p) != nil {
					return
				}
				if detach {
					detached.Store(true)
					c.Close()
					return
				}
				if err != nil {
					_ = send(frameStdinClose, nil)
					return
				}
			}
		}()
	}
	if o.Resize != nil {
		go func() {
			for {
				select {
				case ws, ok := <-o.Resize:
					if !ok {
						return
					}
					p := make([]byte, 4)
					binary.BigEndian.PutUint16(p, ws.Rows)
					binary.BigEndian.PutUint16(p[2:], ws.Cols)
					if send(frameResize, p) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	var closedOnce sync.Once
	closed := func(err error) {
		if o.OutputClosed != nil {
			closedOnce.Do(func() { o.OutputClosed(err) })
		}
	}
	for {
		typ, p, err := readFrame(c)
		if err != nil {
			if detached.Load() {
				return -1, ErrDetached
			}
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			st, serr := ReadStatus(dir)
			if serr == nil && !st.Running && !st.FinishedAt.IsZero() {
				return st.ExitCode, nil
			}
			return -1, fmt.Errorf("attach: monitor went away: %w", err)
		}
		switch typ {
		case frameStdout:
			o.Stdout = forward(o.Stdout, p, closed)
		case frameStderr:
			o.Stderr = forward(o.Stderr, p, closed)
		case frameExit:
			if len(p) != 4 {
				return -1, errors.New("attach: bad exit frame")
			}
			return int(int32(binary.BigEndian.Uint32(p))), nil
		}
	}
}

// forward writes p to w and returns w, or nil (and calls closed) if the
// write failed: a stream whose reader is gone is not written again.
func forward(w io.Writer, p []byte, closed func(error)) io.Writer {
	if w == nil {
		return nil
	}
	if _, err := w.Write(p); err != nil {
		closed(err)
		return nil
	}
	return w
}

// dialUnixIn connects to the unix socket name in dir. Socket paths are
// limited to 108 bytes and container dirs are long, so the path goes
// through /proc/self/fd of an O_PATH handle on dir.
func dialUnixIn(dir, name string) (*net.UnixConn, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	p := filepath.Join(fmt.Sprintf("/proc/self/fd/%d", fd), name)
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: p, Net: "unix"})
}

// attachHub is the monitor's side: the attached clients, fanned out to.
type attachHub struct {
	mu      sync.Mutex
	clients map[*net.UnixConn]*sync.Mutex
	first   chan struct{} // closed when the first client connects
	once    sync.Once
	stdin   io.WriteCloser // the container's stdin, or nil
	closeIn sync.Once
	pty     *os.File // the pty master, for resizes
}

func newAttachHub() *attachHub {
	return &attachHub{clients: map[*net.UnixConn]*sync.Mutex{}, first: make(chan struct{})}
}

// serve accepts clients until ln is closed.
func (h *attachHub) serve(ln *net.UnixListener) {
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		h.add(c)
	}
}

// add takes c as a client.
func (h *attachHub) add(c *net.UnixConn) {
	h.mu.Lock()
	h.clients[c] = &sync.Mutex{}
	h.mu.Unlock()
	h.once.Do(func() { close(h.first) })
	go h.readClient(c)
}

// readClient applies a client's frames until it disconnects.
func (h *attachHub) readClient(c *net.UnixConn) {
	defer h.drop(c)
	for {
		typ, p, err := readFrame(c)
		if err != nil {
			return
		}
		switch typ {
		case frameStdin:
			if h.stdin != nil {
				_, _ = h.stdin.Write(p)
			}
		case frameStdinClose:
			if h.stdin != nil && h.pty == nil {
				h.closeIn.Do(func() { h.stdin.Close() })
			}
		case frameResize:
			if h.pty != nil && len(p) == 4 {
				_ = resize(h.pty, binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
			}
		}
	}
}

func (h *attachHub) drop(c *net.UnixConn) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.Close()
}

// send writes one frame to every client; a client that cannot take it is
// dropped.
func (h *attachHub) send(typ byte, p []byte) {
	h.mu.Lock()
	clients := make(map[*net.UnixConn]*sync.Mutex, len(h.clients))
	for c, mu := range h.clients {
		clients[c] = mu
	}
	h.mu.Unlock()
	for c, mu := range clients {
		mu.Lock()
		err := writeFrame(c, typ, p)
		mu.Unlock()
		if err != nil {
			h.drop(c)
		}
	}
}

// reset readies the hub for the next run of a restarted container: the
// last run's stdin and terminal are gone.
func (h *attachHub) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stdin, h.pty, h.closeIn = nil, nil, sync.Once{}
}

func (h *attachHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		c.Close()
	}
}

// streamWriter writes a stream to the log and to the attached clients.
type streamWriter struct {
	hub  *attachHub
	typ  byte
	line *lineWriter
}

func (w *streamWriter) Write(p []byte) (int, error) {
	_, _ = w.line.Write(p)
	w.hub.send(w.typ, append([]byte(nil), p...))
	return len(p), nil
}
