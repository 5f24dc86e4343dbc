package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
)

// BootResult is what Boot did with one container it started, or failed to.
type BootResult struct {
	ID, Name string
	Err      error
}

// Boot is the host's start for containers without a daemon (strata system
// boot, run by a systemd unit): every container whose monitor is gone is
// settled (its exit recorded, its rootfs unmounted, runc's state and its
// network sandbox released: what a reboot leaves), and those whose
// restart policy says so are started again, as dockerd does when it
// starts: always, and unless-stopped unless the user stopped it. A
// container that runs (or whose monitor waits to restart it), one never
// started, and one with another policy are left as they are, so a second
// Boot does nothing. It returns the containers it started or failed to
// start; one failure does not stop the others. Two Boots at once take
// turns (a lock in the containers directory).
func (s *Store) Boot(ctx context.Context) ([]BootResult, error) {
	unlock, err := s.lockBoot()
	if err != nil {
		return nil, err
	}
	defer unlock()
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	var out []BootResult
	for _, id := range ids {
		c, err := s.load(id)
		if err != nil {
			continue // removed meanwhile
		}
		// Status settles a container whose monitor died and whose process
		// is gone (and removes a --rm one).
		st, err := s.Status(ctx, id)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			out = append(out, BootResult{ID: id, Name: c.Name, Err: err})
			continue
		}
		if st.Running || st.Restarting || stateOf(st, false) != StateExited || !bootStarts(c.Options.RestartPolicy, s.dir(id)) {
			continue
		}
		_, err = s.Start(ctx, id, StartOptions{})
		out = append(out, BootResult{ID: id, Name: c.Name, Err: err})
	}
	return out, nil
}

// bootStarts says whether a container with policy p, exited while its
// monitor was gone, is started at boot.
func bootStarts(p runtime.RestartPolicy, dir string) bool {
	switch p.Name {
	case runtime.RestartAlways:
		return true
	case runtime.RestartUnlessStopped:
		return !runtime.StoppedByUser(dir)
	}
	return false
}

// lockBoot takes the containers directory's boot lock, waiting for
// another Boot to finish.
func (s *Store) lockBoot() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.containersDir(), "boot.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("boot: lock: %w", err)
	}
	return func() { f.Close() }, nil
}
