package proc

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Error("this process is not alive")
	}
	if Alive(0) || Alive(-1) {
		t.Error("pid 0 or -1 is alive")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	pid := cmd.Process.Pid
	if !Alive(pid) {
		t.Errorf("a running child is not alive")
	}
	s1, z, err := Start(pid)
	if err != nil || z || s1 == 0 {
		t.Errorf("Start of a running child: %d %v %v", s1, z, err)
	}
	cmd.Process.Kill()
	// Killed and not yet reaped (waitid with WNOWAIT waits for the exit
	// and leaves the child be): a zombie, which is dead.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if Alive(pid) {
		t.Errorf("a zombie is alive")
	}
	cmd.Wait()
	if Alive(pid) {
		t.Errorf("a reaped child is alive")
	}
}
