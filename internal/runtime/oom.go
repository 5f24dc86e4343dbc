package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// oomWatch tells whether a container's cgroup ran out of memory while it
// ran: docker inspect's State.OOMKilled. The monitor starts it before runc
// makes the container's cgroup and asks it once the container has exited;
// by then runc has removed the cgroup, and with it every counter, so the
// watch must see the event as it happens:
//
//   - cgroup v1: the memory cgroup is made here first (runc joins a
//     cgroup that exists) and an eventfd is registered on its
//     memory.oom_control through cgroup.event_control. The kernel signals
//     it at every OOM, before it kills, and once more when the cgroup is
//     removed; a signal while memory.oom_control can still be read is an
//     OOM (a removed cgroup's files fail to read).
//   - cgroup v2: memory.events is watched with inotify and its oom_kill
//     count read at each change, while the file is there.
//
// oomSettle bounds how long Killed waits for the events of an exit.
const oomSettle = 500 * time.Millisecond

type oomWatch struct {
	mu     sync.Mutex
	killed bool
	done   chan struct{}
	stop   func()
}

// watchOOM starts watching the memory cgroup at cgroupsPath (the spec's
// linux.cgroupsPath). It never fails: where it cannot watch, Killed
// reports false.
func watchOOM(cgroupsPath string) *oomWatch {
	w := &oomWatch{done: make(chan struct{}), stop: func() {}}
	if cgroupsPath == "" {
		close(w.done)
		return w
	}
	var err error
	if cg := Cgroups(); cg.V2 {
		err = w.startV2(cgroupsPath)
	} else {
		err = w.startV1(filepath.Join(cgroupRoot, "memory", cgroupsPath))
	}
	if err != nil {
		Tracef("oom watch: %v", err)
		close(w.done)
	}
	return w
}

func (w *oomWatch) mark() {
	w.mu.Lock()
	w.killed = true
	w.mu.Unlock()
}

// Stop ends the watch (on a start that failed).
func (w *oomWatch) Stop() {
	w.stop()
	<-w.done
}

// Killed reports whether an OOM was seen. Call it after the container has
// exited: it waits a moment for the watch to take in the events the exit
// raised, then stops it.
func (w *oomWatch) Killed() bool {
	Tracef("oom watch: waiting")
	defer Tracef("oom watch: done")
	select {
	case <-w.done:
	case <-time.After(oomSettle):
	}
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.killed
}

func (w *oomWatch) startV1(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		ctl.Close()
		return fmt.Errorf("eventfd: %w", err)
	}
	ev := os.NewFile(uintptr(efd), "oom-eventfd")
	reg := fmt.Sprintf("%d %d", efd, ctl.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0); err != nil {
		ev.Close()
		ctl.Close()
		return fmt.Errorf("register oom event: %w", err)
	}
	w.stop = func() {
		ev.Close()
		// The cgroup this made, if runc never started (runc removes
		// its own); one in use is busy and stays.
		_ = os.Remove(dir)
	}
	// Ends when the cgroup is removed (the kernel's last signal, and
	// memory.oom_control no longer reads) or stop closes the eventfd.
	go func() {
		defer close(w.done)
		defer ctl.Close()
		buf := make([]byte, 8)
		for {
			if _, err := ev.Read(buf); err != nil {
				return
			}
			if _, err := ctl.ReadAt(make([]byte, 256), 0); err != nil && !isEOF(err) {
				return // removed
			}
			w.mark()
		}
	}()
	return nil
}

func (w *oomWatch) startV2(cgroupsPath string) error {
	dir := filepath.Join(cgroupRoot, cgroupsPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	events := filepath.Join(dir, "memory.events")
	if _, err := unix.InotifyAddWatch(fd, events, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return fmt.Errorf("watch %s: %w", events, err)
	}
	in := os.NewFile(uintptr(fd), "oom-inotify")
	w.stop = func() {
		in.Close()
		_ = os.Remove(dir)
	}
	check := func() bool {
		b, err := os.ReadFile(events)
		if err != nil {
			return false
		}
		if oomKills(b) > 0 {
			w.mark()
		}
		return true
	}
	// Ends when memory.events is gone (the cgroup was removed) or stop
	// closes the inotify descriptor.
	go func() {
		defer close(w.done)
		buf := make([]byte, 4096)
		for {
			if _, err := in.Read(buf); err != nil {
				return
			}
			if !check() {
				return
			}
		}
	}()
	return nil
}

// oomKills reads the oom_kill count of a memory.events or
// memory.oom_control file.
func oomKills(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if ok && string(k) == "oom_kill" {
			n, _ := strconv.ParseInt(string(v), 10, 64)
			return n
		}
	}
	return 0
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
