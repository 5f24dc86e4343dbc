package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSaveLoad round-trips an image through `strata save` and `strata
// load` (file and stdin) into fresh stores: same image ID and layers, a
// clean store, and the loaded image runs.
func TestSaveLoad(t *testing.T) {
	src := newUser(t)
	src.baseImage(t, "base:1", "app:v1")
	id := src.inspect(t, "{{.Id}}", "app:v1")
	layers := src.inspect(t, "{{json .RootFS.Layers}}", "app:v1")
	archive := filepath.Join(t.TempDir(), "app.tar")
	if r := src.ok(t, "save", "-o", archive, "app:v1"); r.stdout != "" {
		t.Errorf("save -o printed %q on stdout", r.stdout)
	}
	// To stdout, the same bytes.
	r := src.ok(t, "save", "app:v1")
	if b, err := os.ReadFile(archive); err != nil || !bytes.Equal(b, []byte(r.stdout)) {
		t.Errorf("save to stdout differs from save -o (%d and %d bytes, %v)", len(r.stdout), len(b), err)
	}

	for _, how := range []string{"-i", "stdin"} {
		t.Run(how, func(t *testing.T) {
			dst := newUser(t)
			var r result
			if how == "-i" {
				r = dst.ok(t, "load", "-i", archive)
			} else {
				f, err := os.Open(archive)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if r = dst.run(t, f, "load"); r.code != 0 {
					t.Fatalf("%v", r)
				}
			}
			if got := strings.TrimSpace(r.stdout); got != "Loaded image: app:v1" {
				t.Errorf("load printed %q, want \"Loaded image: app:v1\"", got)
			}
			if got := dst.inspect(t, "{{.Id}}", "app:v1"); got != id {
				t.Errorf("loaded image ID %s, saved %s", got, id)
			}
			if got := dst.inspect(t, "{{json .RootFS.Layers}}", "app:v1"); got != layers {
				t.Errorf("loaded layers %s, saved %s", got, layers)
			}
			dst.fsckClean(t)
			requiresRunc(t)
			if r := dst.ok(t, "run", "--rm", "app:v1"); r.stdout != "hello from app:v1\n" {
				t.Errorf("the loaded image printed %q", r.stdout)
			}
		})
	}
}

// TestLoadBadArchive loads broken and hostile archives into a store that
// holds an image: each is refused with exit 1 and one error line, and the
// store is as it was (same names, same blobs, fsck clean).
func TestLoadBadArchive(t *testing.T) {
	src := newUser(t)
	src.baseImage(t, "base:1", "app:v1")
	archive := filepath.Join(t.TempDir(), "app.tar")
	src.ok(t, "save", "-o", archive, "app:v1")
	good, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	appLayer := savedLayers(t, good)[1] // the layer only app:v1 has

	cases := []struct {
		name  string
		make  func() []byte
		wants []string
	}{
		{"a byte flipped in a layer", func() []byte {
			return rewrite(t, good, func(h *tar.Header, body []byte) ([]byte, bool) {
				if h.Name == appLayer {
					body = slices.Clone(body)
					body[len(body)/2] ^= 0xff
				}
				return body, true
			})
		}, []string{strings.TrimPrefix(appLayer, "blobs/sha256/"), "digest mismatch", "nothing was kept"}},
		{"a layer missing", func() []byte {
			return rewrite(t, good, func(h *tar.Header, body []byte) ([]byte, bool) {
				return body, h.Name != appLayer
			})
		}, []string{appLayer, "missing"}},
		{"cut in half", func() []byte { return good[:len(good)/2] }, []string{"truncated"}},
		{"a path out of the archive", func() []byte {
			return rewrite(t, good, func(h *tar.Header, body []byte) ([]byte, bool) {
				if h.Name == "manifest.json" {
					h.Name = "../manifest.json"
				}
				return body, true
			})
		}, []string{`"../manifest.json"`, "climbs out"}},
		{"not a tar", func() []byte { return []byte("this is not an image archive\n") }, []string{"not a tar"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t)
			rootfs := filepath.Join(t.TempDir(), "rootfs")
			if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rootfs, "etc", "kept"), []byte("kept\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			u.ok(t, "import", rootfs, "kept:1")
			before := u.state(t)
			bad := filepath.Join(t.TempDir(), "bad.tar")
			if err := os.WriteFile(bad, tc.make(), 0o644); err != nil {
				t.Fatal(err)
			}
			r := u.fails(t, nil, tc.wants, "load", "-i", bad)
			t.Log(lastLine(r.stderr))
			if strings.Contains(r.stdout, "Loaded image") {
				t.Errorf("a refused load says it loaded: %v", r)
			}
			if after := u.state(t); after != before {
				t.Errorf("the store changed:\nbefore: %s\nafter:  %s", before, after)
			}
			u.fsckClean(t)
		})
	}
}

// state describes what a user would see of the store: its image names and
// IDs and the blobs it holds.
func (u *user) state(t *testing.T) string {
	t.Helper()
	imgs := u.ok(t, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
	ents, err := os.ReadDir(filepath.Join(u.root, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var blobs []string
	for _, e := range ents {
		blobs = append(blobs, e.Name()[:12])
	}
	return strings.Join(strings.Fields(imgs), " ") + " | blobs " + strings.Join(blobs, " ")
}

// savedLayers reads the layer paths of the first image of a docker save
// archive's manifest.json.
func savedLayers(t *testing.T, archive []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in the archive: %v", err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ Layers []string }
		if err := json.NewDecoder(tr).Decode(&m); err != nil || len(m) == 0 {
			t.Fatalf("manifest.json: %v", err)
		}
		return m[0].Layers
	}
}

// rewrite copies a tar, passing each entry through edit, which may change
// the header and body and returns false to drop the entry.
func rewrite(t *testing.T, archive []byte, edit func(h *tar.Header, body []byte) ([]byte, bool)) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		body, keep := edit(h, body)
		if !keep {
			continue
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// requiresRunc skips unless runc is installed.
func requiresRunc(t *testing.T) {
	t.Helper()
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc"} {
		if _, err := os.Stat(p); err == nil {
			return
		}
	}
	t.Skip("skipping the run: needs runc (apt-get install runc)")
}
