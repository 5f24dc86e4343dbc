package build

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// TestSSHServerReadOnly serves a keyring on a real unix socket and talks
// to it as a RUN would: it lists and signs, and every request that would
// change the agent is refused without reaching it.
func TestSSHServerReadOnly(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: priv, Comment: "k"}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent")
	srv, err := (&sshSource{keyring: kr}).listen(sock, os.Getuid(), os.Getgid(), 0o640)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			srv.Close()
		}
	}()
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o640 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket: %v %v, want a socket with mode 0640", fi.Mode(), err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ag := agent.NewClient(c)
	keys, err := ag.List()
	if err != nil || len(keys) != 1 || keys[0].Comment != "k" {
		t.Fatalf("List = %v, %v; want the one key", keys, err)
	}
	pub, err := ssh.ParsePublicKey(keys[0].Blob)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ag.Sign(pub, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Verify([]byte("data"), sig); err != nil {
		t.Errorf("signature: %v", err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	refused := map[string]error{
		"Add":       ag.Add(agent.AddedKey{PrivateKey: other}),
		"Remove":    ag.Remove(pub),
		"RemoveAll": ag.RemoveAll(),
		"Lock":      ag.Lock([]byte("pw")),
		"Unlock":    ag.Unlock([]byte("pw")),
	}
	for op, err := range refused {
		if err == nil {
			t.Errorf("%s through the build's socket succeeded; it must be refused", op)
		}
	}
	if keys, err := kr.List(); err != nil || len(keys) != 1 {
		t.Errorf("the keyring after the refused requests: %v, %v", keys, err)
	}
	if keys, err := ag.List(); err != nil || len(keys) != 1 {
		t.Errorf("List after the refused requests = %v, %v", keys, err)
	}
	// Close cuts the open connection and removes the socket.
	srv.Close()
	closed = true
	if _, err := ag.List(); err == nil {
		t.Error("List after Close succeeded")
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after Close (%v)", err)
	}
}

// TestRelayAgentLimits: a message of 0 bytes or over the cap ends the
// relay without reaching the agent.
func TestRelayAgentLimits(t *testing.T) {
	for _, n := range []uint32{0, maxAgentMessage + 1} {
		client, theirs := net.Pipe()
		up, upTheirs := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- relayAgent(theirs, up) }()
		hdr := []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		if _, err := client.Write(hdr); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil {
			t.Errorf("a %d-byte message: the relay went on", n)
		}
		for _, c := range []net.Conn{client, theirs, up, upTheirs} {
			c.Close()
		}
	}
}

// TestParseSSHHome: a key path after "ID=" may start with ~, which no
// shell expands there.
func TestParseSSHHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	srcs, err := parseSSH([]string{"git=~/.ssh/id_ed25519"})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := srcs["git"].keyring.List()
	if err != nil || len(keys) != 1 || keys[0].Comment != "id_ed25519" {
		t.Errorf("keys of --ssh git=~/.ssh/id_ed25519: %v, %v", keys, err)
	}
	if got := expandHome("~other/x"); got != "~other/x" {
		t.Errorf("expandHome(~other/x) = %q", got)
	}
}
