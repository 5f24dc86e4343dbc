package container

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/runtime"
)

func TestDiffCommitExport(t *testing.T) {
	for _, kind := range snapshotters {
		t.Run(kind.name, func(t *testing.T) {
			s, chain := newStore(t, kind)
			ctx := context.Background()
			script := `echo new > /new.txt; echo changed >> /etc/data.txt; rm /etc/old.txt; rm -rf /srv/old; mkdir /srv/old; echo n > /srv/old/b.txt`
			opts := baseOptions(chain, "sh", "-c", script)
			c, code, err := s.Run(ctx, opts, RunOptions{})
			if err != nil || code != 0 {
				t.Fatalf("run: %d %v", code, err)
			}
			changes, err := s.Diff(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range changes {
				got = append(got, ch.String())
			}
			sort.Strings(got)
			want := []string{"A /new.txt", "C /etc", "C /etc/data.txt", "C /srv", "C /srv/old", "D /etc/old.txt", "D /srv/old/a.txt"}
			if kind.name == "overlay" {
				// An opaque dir hides the lower entries without listing
				// each one, as docker diff on overlay2.
				want = []string{"A /new.txt", "A /srv/old/b.txt", "C /etc", "C /etc/data.txt", "C /srv", "C /srv/old", "D /etc/old.txt"}
			} else {
				want = []string{"A /new.txt", "A /srv/old/b.txt", "C /etc", "C /etc/data.txt", "C /srv", "C /srv/old", "D /etc/old.txt", "D /srv/old/a.txt"}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}

			var layer bytes.Buffer
			if err := s.Commit(ctx, c.ID, &layer, CommitOptions{}); err != nil {
				t.Fatal(err)
			}
			names := tarNames(t, &layer)
			for _, n := range []string{"etc/.wh.old.txt", "new.txt", "etc/data.txt", "srv/old/b.txt"} {
				if !names[n] {
					t.Errorf("commit layer lacks %s: %v", n, names)
				}
			}
			if kind.name == "overlay" && !names["srv/old/.wh..wh..opq"] {
				t.Errorf("commit layer lacks the opaque marker of srv/old: %v", names)
			}
			if names["bin/busybox"] {
				t.Errorf("commit layer holds unchanged bin/busybox")
			}

			var exp bytes.Buffer
			if err := s.Export(ctx, c.ID, &exp); err != nil {
				t.Fatal(err)
			}
			en := tarNames(t, &exp)
			for n, want := range map[string]bool{"bin/busybox": true, "new.txt": true, "etc/old.txt": false, "srv/old/a.txt": false, "srv/old/b.txt": true} {
				if en[n] != want {
					t.Errorf("export has %s: %v, want %v", n, en[n], want)
				}
			}

			var cp bytes.Buffer
			if err := s.CopyFrom(ctx, c.ID, "/etc/data.txt", &cp, CopyOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := tarFile(t, &cp, "data.txt"); got != "original\nchanged\n" {
				t.Errorf("cp from: %q", got)
			}
			var in bytes.Buffer
			tw := tar.NewWriter(&in)
			tw.WriteHeader(&tar.Header{Name: "copied.txt", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
			tw.Write([]byte("cp\n"))
			tw.Close()
			if err := s.CopyTo(ctx, c.ID, "/tmp", &in); err != nil {
				t.Fatal(err)
			}
			out, _, code, err := run(t, s, func() CreateOptions { o := baseOptions(chain, "true"); o.AutoRemove = true; return o }())
			_ = out
			if err != nil || code != 0 {
				t.Fatal(err)
			}
			if _, err := s.Start(ctx, c.ID, StartOptions{Attach: true}); err != nil {
				t.Fatal(err)
			}
			var o bytes.Buffer
			// The same container again: its command re-runs on its own layer.
			if _, err := s.Attach(ctx, c.ID, runtime.AttachOptions{Stdout: &o, Stderr: &o}); err != nil || !strings.Contains(o.String(), "can't remove '/etc/old.txt'") {
				// rm /etc/old.txt fails the second time: the layer persisted.
				t.Errorf("second start: err %v out %q, want rm to fail", err, o.String())
			}
		})
	}
}

func TestContainersAreIsolated(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	a, _, err := s.Run(ctx, baseOptions(chain, "sh", "-c", "echo a > /etc/data.txt; echo a > /only-a"), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, code, err := s.Run(ctx, baseOptions(chain, "sh", "-c", "cat /etc/data.txt; ls /only-a 2>&1 || true"), RunOptions{Attach: runtime.AttachOptions{Stdout: &out, Stderr: &out}})
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	if !strings.HasPrefix(out.String(), "original\n") || !strings.Contains(out.String(), "No such file") {
		t.Errorf("second container sees the first's writes: %q", out.String())
	}
	var cp bytes.Buffer
	if err := s.CopyFrom(ctx, a.ID, "/only-a", &cp, CopyOptions{}); err != nil || tarFile(t, &cp, "only-a") != "a\n" {
		t.Errorf("first container lost its write: %v", err)
	}
}

func tarNames(t *testing.T, r io.Reader) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = true
	}
}

func tarFile(t *testing.T, r io.Reader, name string) string {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}

// runc makes /etc/hosts, /etc/hostname and /etc/resolv.conf in a rootfs
// that lacks them; as docker's init layer, they and their /etc are not
// the container's changes: a container that touched nothing has an empty
// diff, and its commit no etc/.
func TestDiffIgnoresRuntimeMountPoints(t *testing.T) {
	for _, kind := range snapshotters {
		t.Run(kind.name, func(t *testing.T) {
			s, chain := newStore(t, kind)
			ctx := context.Background()
			c, code, err := s.Run(ctx, baseOptions(chain, "true"), RunOptions{})
			if err != nil || code != 0 {
				t.Fatalf("run: %d %v", code, err)
			}
			changes, err := s.Diff(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 0 {
				t.Errorf("diff of a container that changed nothing: %v", changes)
			}
			var layer bytes.Buffer
			if err := s.Commit(ctx, c.ID, &layer, CommitOptions{}); err != nil {
				t.Fatal(err)
			}
			if names := tarNames(t, &layer); len(names) != 0 {
				t.Errorf("commit of a container that changed nothing: %v", names)
			}
		})
	}
}
