package build

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/strata-project/strata/internal/errdefs"
)

// sshSource is what `strata build --ssh ID=…` gives the RUNs that mount
// ssh id ID: a running agent's socket, or private keys read from files
// into an in-process keyring. Neither the socket's path nor the keys enter
// a layer, the history or a cache key.
type sshSource struct {
	socket  string      // an agent's socket on the host
	keyring agent.Agent // keys read from files
}

// parseSSH reads `strata build --ssh` values, as docker build does:
//
//	ID                     the agent at $SSH_AUTH_SOCK
//	ID=SOCKET              the agent at SOCKET
//	ID=KEYFILE[,KEYFILE…]  those private keys, served by Strata itself
//
// A leading ~ in a path is the home directory. Keys are read and the
// socket is tried now, so a mistake fails the build before its first step.
func parseSSH(specs []string) (map[string]*sshSource, error) {
	out := map[string]*sshSource{}
	for _, v := range specs {
		id, rest, hasPaths := strings.Cut(v, "=")
		if id == "" || strings.ContainsAny(id, ", ") {
			return nil, fmt.Errorf("--ssh %s: want ID[=SOCKET|KEYFILE[,KEYFILE...]], such as --ssh default: %w", v, errdefs.ErrInvalidArgument)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("--ssh %s: the id %s is given twice: %w", v, id, errdefs.ErrInvalidArgument)
		}
		var paths []string
		if hasPaths {
			for _, p := range strings.Split(rest, ",") {
				if p = strings.TrimSpace(p); p != "" {
					paths = append(paths, expandHome(p))
				}
			}
			if len(paths) == 0 {
				return nil, fmt.Errorf("--ssh %s: no socket or key file after %s=: %w", v, id, errdefs.ErrInvalidArgument)
			}
		} else {
			sock := os.Getenv("SSH_AUTH_SOCK")
			if sock == "" {
				return nil, fmt.Errorf("--ssh %s: SSH_AUTH_SOCK is not set: start an agent (eval $(ssh-agent) and ssh-add) or give keys, as in --ssh %s=~/.ssh/id_ed25519: %w", v, id, errdefs.ErrInvalidArgument)
			}
			paths = []string{sock}
		}
		src, err := sshSourceOf(id, paths)
		if err != nil {
			return nil, err
		}
		out[id] = src
	}
	return out, nil
}

func sshSourceOf(id string, paths []string) (*sshSource, error) {
	if fi, err := os.Stat(paths[0]); err == nil && fi.Mode().Type() == os.ModeSocket {
		if len(paths) > 1 {
			return nil, fmt.Errorf("--ssh %s: %s is an agent socket; give one socket or key files, not both: %w", id, paths[0], errdefs.ErrInvalidArgument)
		}
		sock, err := filepath.Abs(paths[0])
		if err != nil {
			return nil, err
		}
		c, err := net.DialTimeout("unix", sock, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("--ssh %s: the agent at %s does not answer: %w", id, sock, err)
		}
		c.Close()
		return &sshSource{socket: sock}, nil
	}
	kr := agent.NewKeyring()
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Type() == os.ModeSocket {
			return nil, fmt.Errorf("--ssh %s: %s is an agent socket; give one socket or key files, not both: %w", id, p, errdefs.ErrInvalidArgument)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--ssh %s: %w", id, err)
		}
		key, err := ssh.ParseRawPrivateKey(b)
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, fmt.Errorf("--ssh %s: %s is protected by a passphrase: add it to an agent (ssh-add %s) and pass --ssh %s, which uses $SSH_AUTH_SOCK: %w", id, p, p, id, errdefs.ErrInvalidArgument)
		}
		if err != nil {
			return nil, fmt.Errorf("--ssh %s: %s is neither an agent socket nor a private key (%v): %w", id, p, err, errdefs.ErrInvalidArgument)
		}
		if err := kr.Add(agent.AddedKey{PrivateKey: key, Comment: filepath.Base(p)}); err != nil {
			return nil, fmt.Errorf("--ssh %s: %s: %w", id, p, err)
		}
	}
	return &sshSource{keyring: kr}, nil
}

// expandHome replaces a leading ~ with the home directory, as a shell
// does for a path it sees whole (not after "id=").
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

// sshServer is the agent socket one RUN mount shows: it accepts the RUN's
// connections and relays each over its own connection to the source (a
// new connection to the host's agent, or a pipe to the keyring).
//
// It relays rather than bind-mounting the host's socket so that the mount's
// mode, uid and gid apply to a socket of the build's own without changing
// the user's, the socket's host path stays out of the container, and the
// RUN can only list keys and sign (relayAgent): a Dockerfile cannot add
// or remove the user's keys, or lock the agent.
type sshServer struct {
	src    *sshSource
	ln     *net.UnixListener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// listen serves src on a new socket at path (in a private directory),
// owned by uid:gid with mode. Close stops it.
func (src *sshSource) listen(path string, uid, gid int, mode os.FileMode) (*sshServer, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ssh agent socket: %w", err)
	}
	if err := os.Chown(path, uid, gid); err == nil {
		err = os.Chmod(path, mode)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("ssh agent socket: %w", err)
	}
	s := &sshServer{src: src, ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// accept ends when Close closes the listener (or accepting fails, after
// which the RUN's clients cannot connect and say so).
func (s *sshServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.relay(c)
	}
}

// relay ends when the RUN closes its connection, the source closes its
// side, a message breaks the protocol, or Close closes both connections.
func (s *sshServer) relay(c net.Conn) {
	defer s.wg.Done()
	up, err := s.dial()
	if err != nil {
		c.Close() // the client reads EOF: "communication with agent failed"
		return
	}
	if !s.track(c, up) {
		return
	}
	defer s.untrack(c, up)
	_ = relayAgent(c, up)
}

// dial opens a connection to the source.
func (s *sshServer) dial() (net.Conn, error) {
	if s.src.socket != "" {
		return net.DialTimeout("unix", s.src.socket, 5*time.Second)
	}
	mine, theirs := net.Pipe()
	s.wg.Add(1)
	go func() {
		// Ends when relay closes its end of the pipe.
		defer s.wg.Done()
		_ = agent.ServeAgent(s.src.keyring, theirs)
		theirs.Close()
	}()
	return mine, nil
}

// track records a relay's two connections for Close; false (having closed
// them) when the server is already closed.
func (s *sshServer) track(cs ...net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		s.conns[c] = true
	}
	return true
}

func (s *sshServer) untrack(cs ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(s.conns, c)
	}
}

// Close stops accepting, removes the socket, cuts every connection and
// waits for the relays to end.
func (s *sshServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// The agent protocol (draft-miller-ssh-agent, section 3): each message is
// a uint32 length and that many bytes, the first its type; a client sends
// a request and reads its reply before the next.
const (
	agentFailure           = 5
	agentRequestIdentities = 11
	agentSignRequest       = 13
	agentExtension         = 27
	// maxAgentMessage is OpenSSH ssh-agent's limit (AGENT_MAX_LEN).
	maxAgentMessage = 256 << 10
)

// relayAgent passes the client's requests to list keys, sign and
// extensions (such as OpenSSH's session-bind) to up and the replies back;
// any other request (add, remove, lock, unlock) gets SSH_AGENT_FAILURE
// without reaching up. It returns at the first read or write error: io.EOF
// when the client hangs up between requests.
func relayAgent(client, up io.ReadWriter) error {
	for {
		req, err := readAgentMsg(client)
		if err != nil {
			return err
		}
		switch req[0] {
		case agentRequestIdentities, agentSignRequest, agentExtension:
		default:
			if err := writeAgentMsg(client, []byte{agentFailure}); err != nil {
				return err
			}
			continue
		}
		if err := writeAgentMsg(up, req); err != nil {
			return err
		}
		rep, err := readAgentMsg(up)
		if err != nil {
			return err
		}
		if err := writeAgentMsg(client, rep); err != nil {
			return err
		}
	}
}

func readAgentMsg(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	l := binary.BigEndian.Uint32(n[:])
	if l == 0 || l > maxAgentMessage {
		return nil, fmt.Errorf("ssh agent message of %d bytes (want 1 to %d)", l, maxAgentMessage)
	}
	msg := make([]byte, l)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

func writeAgentMsg(w io.Writer, msg []byte) error {
	buf := make([]byte, 4+len(msg))
	binary.BigEndian.PutUint32(buf, uint32(len(msg)))
	copy(buf[4:], msg)
	_, err := w.Write(buf)
	return err
}
