package build_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/testutil"
)

// sshlist builds testdata/sshlist (static) into dir: inside a RUN it
// prints the fingerprint of each key of $SSH_AUTH_SOCK's agent that signed
// a message, then whether the agent refused to remove its keys.
func sshlist(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "sshlist"), "./testdata/sshlist")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the sshlist helper: %v\n%s", err, out)
	}
}

// sshKey makes an unencrypted ed25519 key in dir and returns its path and
// its public key's SHA256 fingerprint.
func sshKey(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("skipping: needs ssh-keygen (apt-get install openssh-client)")
	}
	p := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	b, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return p, ssh.FingerprintSHA256(pub)
}

// sshAgent starts OpenSSH's ssh-agent on sock with keys added, and stops
// it (by its PID) when the test ends.
func sshAgent(t *testing.T, sock string, keys ...string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("skipping: needs ssh-agent (apt-get install openssh-client)")
	}
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.Remove(sock)
	})
	testutil.WaitFor(t, "ssh-agent's socket at "+sock, func() bool {
		fi, err := os.Stat(sock)
		return err == nil && fi.Mode().Type() == os.ModeSocket
	})
	for _, k := range keys {
		add := exec.Command("ssh-add", k)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v\n%s", k, err, out)
		}
	}
}

// topFile reads name from the image's last layer.
func topFile(t *testing.T, e *engine.Engine, ref, name string) string {
	t.Helper()
	ctx := context.Background()
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(img.Manifest.Layers) - 1; i >= 0; i-- {
		rc, err := e.OpenLayer(ctx, img.Manifest.Layers[i])
		if err != nil {
			t.Fatal(err)
		}
		zr, _, err := archive.Decompress(rc)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == name {
				b, err := io.ReadAll(tr)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
		}
		rc.Close()
	}
	t.Fatalf("%s has no /%s", ref, name)
	return ""
}

// noTrace fails when a layer or a history row of ref holds any of needles.
func noTrace(t *testing.T, e *engine.Engine, ref string, needles ...string) {
	t.Helper()
	layers := layerBytes(t, e, ref)
	cfg := imageConfig(t, e, ref)
	for _, n := range needles {
		if bytes.Contains(layers, []byte(n)) {
			t.Errorf("a layer of %s holds %q", ref, n)
		}
		for _, h := range cfg.History {
			if strings.Contains(h.CreatedBy, n) || strings.Contains(h.Comment, n) {
				t.Errorf("a history row of %s holds %q: %s", ref, n, h.CreatedBy)
			}
		}
		for _, env := range cfg.Config.Env {
			if strings.Contains(env, n) {
				t.Errorf("the config Env of %s holds %q: %s", ref, n, env)
			}
		}
	}
}

func TestRunMountSSHKeyFiles(t *testing.T) {
	e := newEngine(t)
	keys := t.TempDir()
	k1, fp1 := sshKey(t, keys, "one")
	k2, fp2 := sshKey(t, keys, "two")
	k3, fp3 := sshKey(t, keys, "three")
	df := `FROM busybox
RUN --mount=type=ssh --mount=source=sshlist,target=/t /t > /keys && echo $SSH_AUTH_SOCK > /sock && stat -c %a:%u:%g $SSH_AUTH_SOCK > /sockmode
RUN --mount=type=ssh,id=other,mode=0660,uid=1000,gid=50,required --mount=type=ssh,target=/root/agent.sock --mount=source=sshlist,target=/t sh -c 'echo $SSH_AUTH_SOCK; stat -c %a:%u:%g /run/buildkit/ssh_agent.0; /t; SSH_AUTH_SOCK=/root/agent.sock /t' > /two
`
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	sshlist(t, dir)
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"ssh:1"},
		SSH: []string{"default=" + k1 + "," + k2, "other=" + k3}})
	got := map[string]string{}
	for _, f := range []string{"keys", "sock", "sockmode", "two"} {
		got[f] = topFile(t, e, "ssh:1", f)
	}
	want := map[string]string{
		"keys":     fp1 + " signed\n" + fp2 + " signed\nremove refused\n",
		"sock":     "/run/buildkit/ssh_agent.0\n",
		"sockmode": "600:0:0\n",
		"two": "/run/buildkit/ssh_agent.0\n660:1000:50\n" + fp3 + " signed\nremove refused\n" +
			fp1 + " signed\n" + fp2 + " signed\nremove refused\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the RUNs saw (-want +got):\n%s", diff)
	}
	// Each RUN's layer has only its output: no socket stub, no /run, no
	// copied-up /root.
	for i, w := range [][]string{{"keys", "sock", "sockmode"}, {"two"}} {
		got := layerEntries(t, e, "ssh:1", i-2)
		sort.Strings(got)
		if !cmp.Equal(got, w) {
			t.Errorf("RUN %d layer has %v, want %v", i+1, got, w)
		}
	}
	var private []string
	for _, k := range []string{k1, k2, k3} {
		b, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		// The base64 lines of each key but the first (a header all
		// OpenSSH keys share), and its path.
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		private = append(append(private, lines[2:len(lines)-1]...), k)
	}
	noTrace(t, e, "ssh:1", append(private, keys, "strata-mounts-")...)
	for _, env := range imageConfig(t, e, "ssh:1").Config.Env {
		if strings.HasPrefix(env, "SSH_AUTH_SOCK=") {
			t.Errorf("config Env has %s", env)
		}
	}
}

func TestRunMountSSHAgentSocket(t *testing.T) {
	e := newEngine(t)
	keys := t.TempDir()
	k1, fp1 := sshKey(t, keys, "one")
	k2, fp2 := sshKey(t, keys, "two")
	sockDir := t.TempDir()
	sockA := filepath.Join(sockDir, "agent-a.sock")
	sshAgent(t, sockA, k1)
	df := "FROM busybox\nRUN --mount=type=ssh,required --mount=source=sshlist,target=/t /t > /keys\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	sshlist(t, dir)
	// --ssh default is the agent at $SSH_AUTH_SOCK.
	t.Setenv("SSH_AUTH_SOCK", sockA)
	_, out := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"sa:1"}, SSH: []string{"default"}})
	if got, want := topFile(t, e, "sa:1", "keys"), fp1+" signed\nremove refused\n"; got != want {
		t.Errorf("/keys = %q, want %q", got, want)
	}
	if strings.Contains(out, "CACHED") {
		t.Errorf("first build hit the cache:\n%s", out)
	}
	// The RUN could not take the key from the user's agent.
	list := exec.Command("ssh-add", "-l")
	list.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sockA)
	if b, err := list.CombinedOutput(); err != nil || !strings.Contains(string(b), fp1) {
		t.Errorf("ssh-add -l on the user's agent after the build: %v\n%s", err, b)
	}
	noTrace(t, e, "sa:1", sockDir, "agent-a", "ssh_agent", "SSH_AUTH_SOCK")
	if got := layerEntries(t, e, "sa:1", -1); !cmp.Equal(got, []string{"keys"}) {
		t.Errorf("RUN layer has %v, want only keys", got)
	}

	// Another agent with another key, given by its path: the RUN's key
	// does not depend on the agent, so it comes from the cache.
	sockB := filepath.Join(sockDir, "agent-b.sock")
	sshAgent(t, sockB, k2)
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"sa:2"}, SSH: []string{"default=" + sockB}})
	if n := strings.Count(out, "CACHED"); n != 1 {
		t.Errorf("rebuild with another agent: %d CACHED, want 1:\n%s", n, out)
	}
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"sa:3"}, NoCache: true, SSH: []string{"default=" + sockB}})
	if got, want := topFile(t, e, "sa:3", "keys"), fp2+" signed\nremove refused\n"; got != want {
		t.Errorf("with --no-cache and agent b: /keys = %q, want %q\n%s", got, want, out)
	}
}

func TestRunMountSSHNotGiven(t *testing.T) {
	e := newEngine(t)
	// Not required: the RUN runs without the mount (SSH_AUTH_SOCK still
	// names it, as in BuildKit).
	df := "FROM busybox\nRUN --mount=type=ssh,id=deploy ls /run/buildkit 2>&1 >/dev/null | wc -l > /n && echo $SSH_AUTH_SOCK > /sock\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"nossh:1"}})
	got := pick(imageFiles(t, e, "nossh:1"), "n", "sock", "run/buildkit")
	want := map[string]string{"n": "file 644 0:0 1\n", "sock": "file 644 0:0 /run/buildkit/ssh_agent.0\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// Required: the build fails at the RUN and says which flag to pass.
	df = "FROM busybox\n\nRUN --mount=type=ssh,id=deploy,required=true true\n"
	dir = writeContext(t, map[string]string{"Dockerfile": df})
	_, out, err := doBuild(t, e, engine.BuildOptions{Context: dir, SSH: []string{"other=" + filepath.Join(t.TempDir(), "nokey")}})
	if err == nil || !strings.Contains(err.Error(), "--ssh other") {
		t.Errorf("an --ssh key file that does not exist: got %v\n%s", err, out)
	}
	keys := t.TempDir()
	k, _ := sshKey(t, keys, "k")
	_, out, err = doBuild(t, e, engine.BuildOptions{Context: dir, SSH: []string{"other=" + k}})
	want1 := "Dockerfile:3: RUN --mount=type=ssh,id=deploy: the ssh agent is required but was not given: pass --ssh deploy"
	if err == nil || !strings.Contains(err.Error(), want1) {
		t.Errorf("got %v, want %q\n%s", err, want1, out)
	}
}

func TestSSHFlagBadInput(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	keys := t.TempDir()
	k, _ := sshKey(t, keys, "k")
	enc := filepath.Join(keys, "enc")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f", enc).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	notKey := filepath.Join(keys, "notes.txt")
	if err := os.WriteFile(notKey, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "a.sock")
	sshAgent(t, sock)
	t.Setenv("SSH_AUTH_SOCK", "")
	tests := []struct {
		name string
		ssh  []string
		want string
	}{
		{"no agent", []string{"default"}, "--ssh default: SSH_AUTH_SOCK is not set"},
		{"empty id", []string{"=" + k}, "want ID[=SOCKET|KEYFILE"},
		{"twice", []string{"a=" + k, "a=" + k}, "the id a is given twice"},
		{"passphrase", []string{"a=" + enc}, "is protected by a passphrase: add it to an agent (ssh-add " + enc + ")"},
		{"not a key", []string{"a=" + notKey}, "is neither an agent socket nor a private key"},
		{"socket and key", []string{"a=" + sock + "," + k}, "give one socket or key files, not both"},
		{"nothing after =", []string{"a="}, "no socket or key file after a="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out, err := doBuild(t, e, engine.BuildOptions{Context: dir, SSH: tt.ssh})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q\n%s", err, tt.want, out)
			}
		})
	}
}

func TestRunMountSecretEnv(t *testing.T) {
	e := newEngine(t)
	const secret = "s3cret-Env-V4lue"
	sf := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(sf, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	df := `FROM busybox
ENV KEEP=1
RUN --mount=type=secret,id=tok,env=TOKEN,required printf %s "$TOKEN" | md5sum > /sum && ls /run/secrets 2>&1 >/dev/null | wc -l > /nofile
RUN --mount=type=secret,id=tok,env=T2,target=/etc/tok printf %s "$T2" | md5sum > /sum2 && md5sum < /etc/tok > /sum3
RUN --mount=type=secret,id=absent,env=ABSENT echo "${ABSENT-unset}" > /absent
`
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	opts := engine.BuildOptions{Context: dir, Tags: []string{"senv:1"}, Secrets: []string{"id=tok,src=" + sf}}
	mustBuild(t, e, opts)
	sum := "file 644 0:0 " + md5hex(secret) + "  -\n"
	want := map[string]string{"sum": sum, "sum2": sum, "sum3": sum, "nofile": "file 644 0:0 1\n", "absent": "file 644 0:0 unset\n"}
	files := imageFiles(t, e, "senv:1")
	if diff := cmp.Diff(want, pick(files, "sum", "sum2", "sum3", "nofile", "absent")); diff != "" {
		t.Errorf("what the RUNs saw (-want +got):\n%s", diff)
	}
	for p := range files {
		if strings.HasPrefix(p, "run") || p == "etc/tok" {
			t.Errorf("the image has %s, a secret mount point", p)
		}
	}
	cfg := imageConfig(t, e, "senv:1")
	for _, env := range cfg.Config.Env {
		if k, _, _ := strings.Cut(env, "="); k == "TOKEN" || k == "T2" || k == "ABSENT" {
			t.Errorf("config Env has %s", env)
		}
	}
	noTrace(t, e, "senv:1", secret, sf)
	// Another value: the RUNs come from the cache, whose keys hold no value.
	if err := os.WriteFile(sf, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Tags = []string{"senv:2"}
	_, out := mustBuild(t, e, opts)
	if n := strings.Count(out, "CACHED"); n != 3 {
		t.Errorf("rebuild with another secret value: %d CACHED, want 3:\n%s", n, out)
	}
	// Required and not given.
	opts.Secrets, opts.Tags = nil, nil
	_, out, err := doBuild(t, e, opts)
	if want := "Dockerfile:3: RUN --mount=type=secret,id=tok: the secret is required but was not given"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q\n%s", err, want, out)
	}
}

func md5hex(s string) string { return fmt.Sprintf("%x", md5.Sum([]byte(s))) }
