package runtime

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// consoleSocket is the unix socket runc create --console-socket connects
// to, to send the master end of the container's pty.
type consoleSocket struct {
	ln   *net.UnixListener
	path string
}

func newConsoleSocket(path string) (*consoleSocket, error) {
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &consoleSocket{ln: ln, path: path}, nil
}

// receive accepts runc's one connection and returns the pty master it
// sends as SCM_RIGHTS ancillary data.
func (s *consoleSocket) receive() (*os.File, error) {
	c, err := s.ln.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("console socket: receive: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: no control message from runc")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("console socket: want one fd from runc")
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

func (s *consoleSocket) Close() error {
	err := s.ln.Close()
	_ = os.Remove(s.path)
	return err
}

// resize sets the window size of the pty whose master is f.
func resize(f *os.File, rows, cols uint16) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
}
