package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLockFileRemovedWhileWaiting: a build waiting for a cache mount's
// lock while a prune removes the mount (and its lock file) does not count
// the lock it then gets on the removed file.
func TestLockFileRemovedWhileWaiting(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.lock")
	prune, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(prune.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// The lock's first wait says it has opened the file and found it held.
	waiting := make(chan struct{})
	var once sync.Once
	tick := waitTick
	waitTick = func() <-chan time.Time {
		once.Do(func() { close(waiting) })
		return tick()
	}
	t.Cleanup(func() { waitTick = tick })
	got := make(chan error, 1)
	go func() {
		f, err := lockFile(context.Background(), p, unix.LOCK_SH)
		if f != nil {
			f.Close()
		}
		got <- err
	}()
	<-waiting
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	prune.Close()
	if err := <-got; !errors.Is(err, errLockFileGone) {
		t.Errorf("lockFile after its file was removed: %v, want errLockFileGone", err)
	}
	f, err := lockFile(context.Background(), p, unix.LOCK_EX)
	if err != nil {
		t.Fatalf("lockFile on a new file: %v", err)
	}
	f.Close()
}
