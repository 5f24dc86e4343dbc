package build_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/layer"
)

// dockerCases are Dockerfiles built by both strata and docker; each must
// give the same files (paths, types, modes, owners, contents, link
// targets; mtimes aside) and the same config. A case's "base" Dockerfile,
// if any, is built first as the image "base:test".
var dockerCases = []struct {
	name  string
	base  string
	files map[string]string
}{
	{"whiteouts and opaque dirs", "", map[string]string{"Dockerfile": "FROM busybox\nRUN rm /opt/keep && rm -rf /opt/old && mkdir /opt/old && echo new > /opt/old/c\n"}},
	{"hardlinks and symlinks", "", map[string]string{"Dockerfile": "FROM busybox\nRUN mkdir /h && echo x > /h/a && ln /h/a /h/b && ln -s a /h/s && ln -s /nowhere /h/dangling\nCOPY tree/ /t/\n",
		"tree/f": "F", "tree/l": "->f", "tree/d/g": "G"}},
	{"chown and chmod", "", map[string]string{"Dockerfile": "FROM busybox\nCOPY --chown=app:staff --chmod=640 files/ /c/\nCOPY --chown=1234 a /u/\nCOPY --chmod=755 a /x\nRUN chown -R nobody /c && chmod 700 /c\n",
		"files/one": "1", "files/sub/two": "2", "a": "A"}},
	{"copy semantics", "", map[string]string{"Dockerfile": "FROM busybox\nWORKDIR /w\nCOPY *.txt ./\nCOPY dir /d\nCOPY dir/ /e/\nCOPY a.txt /f\nCOPY a.txt b.txt /g/\n",
		"a.txt": "A", "b.txt": "B", "c.md": "C", "dir/x": "X", "dir/sub/y": "Y"}},
	{"multi-stage", "", map[string]string{"Dockerfile": "FROM busybox AS one\nRUN echo 1 > /one\nFROM busybox AS two\nRUN echo 2 > /two\nFROM busybox\nCOPY --from=one /one /x/\nCOPY --from=1 /two /x/two\nCOPY --from=busybox /etc/group /x/group\n"}},
	{"onbuild", "FROM busybox\nONBUILD RUN echo triggered > /trig\nONBUILD ENV FROM_TRIGGER=yes\n", map[string]string{"Dockerfile": "FROM base:test\nRUN cat /trig > /copy\n"}},
	{"arg scoping", "", map[string]string{"Dockerfile": "ARG V=global\nARG BASE=busybox\nFROM $BASE\nRUN echo \"[$V]\" > /before\nARG V\nRUN echo \"[$V]\" > /after\nARG W=stage\nENV FROM_ARG=$W\nRUN echo \"$W $FROM_ARG\" > /w\n"}},
	{"config", "", map[string]string{"Dockerfile": `FROM busybox
ENV A=1 B="two words"
ENV C=${A}x
LABEL l1=v1 "l 2"="v 2"
WORKDIR /srv/app
WORKDIR rel
USER nobody
EXPOSE 80 53/udp
VOLUME ["/data"]
VOLUME /cache /logs
STOPSIGNAL SIGUSR1
SHELL ["/bin/sh", "-ec"]
HEALTHCHECK --interval=7s --timeout=3s --start-period=2s --retries=4 CMD ["true"]
ENTRYPOINT ["/bin/echo"]
CMD ["hello"]
`}},
	// Docker 20.10's built-in frontend has no here-documents (they need a
	// newer "# syntax=" frontend it would pull), so none here.
	{"shell forms", "", map[string]string{"Dockerfile": "FROM busybox\nSHELL [\"/bin/sh\", \"-c\"]\nRUN echo one > /h1 && echo two >> /h1\nCMD echo shell form\nENTRYPOINT echo entry\n"}},
	{"dockerignore", "", map[string]string{"Dockerfile": "FROM busybox\nCOPY . /ctx/\n", ".dockerignore": "*.log\n!keep.log\nsecret/\n**/*.tmp\n",
		"a.log": "x", "keep.log": "k", "secret/s": "s", "sub/t.tmp": "t", "sub/ok": "ok"}},
}

func TestSameAsDocker(t *testing.T) {
	host := os.Getenv("STRATA_TEST_DOCKER_HOST")
	if host == "" {
		t.Skip("skipping: set STRATA_TEST_DOCKER_HOST=unix:///run/....sock (bench/build.sh starts a dockerd and sets it)")
	}
	dockerBin := "/usr/bin/docker"
	if _, err := os.Stat(dockerBin); err != nil {
		t.Skipf("skipping: %s not installed (apt-get install docker.io)", dockerBin)
	}
	docker := func(stdin io.Reader, args ...string) ([]byte, error) {
		cmd := exec.Command(dockerBin, append([]string{"-H", host}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
		cmd.Stdin = stdin
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out, nil
	}
	e, rootfs := newEngineBase(t)
	var tb bytes.Buffer
	tw := exec.Command("tar", "-C", rootfs, "-c", ".")
	tw.Stdout = &tb
	if err := tw.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := docker(&tb, "import", "-", "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	for i, tc := range dockerCases {
		t.Run(tc.name, func(t *testing.T) {
			ref := fmt.Sprintf("same:%d", i)
			if tc.base != "" {
				bdir := writeContext(t, map[string]string{"Dockerfile": tc.base})
				mustBuild(t, e, engine.BuildOptions{Context: bdir, Tags: []string{"base:test"}})
				if _, err := docker(nil, "build", "--network", "none", "-q", "-t", "base:test", bdir); err != nil {
					t.Fatal(err)
				}
			}
			dir := writeContext(t, tc.files)
			mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{ref}})
			if _, err := docker(nil, "build", "--network", "none", "-q", "-t", ref, dir); err != nil {
				t.Fatal(err)
			}

			// Files: docker's flattened export against a view of ours.
			cid, err := docker(nil, "create", ref, "true")
			if err != nil {
				t.Fatal(err)
			}
			id := strings.TrimSpace(string(cid))
			defer docker(nil, "rm", id)
			exp, err := docker(nil, "export", id)
			if err != nil {
				t.Fatal(err)
			}
			want := exportTree(t, exp)
			got := strataTree(t, e, ref)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files (-docker +strata):\n%s", diff)
			}

			// Config.
			raw, err := docker(nil, "inspect", "--format", "{{json .Config}}", ref)
			if err != nil {
				t.Fatal(err)
			}
			var dc build.Config
			if err := json.Unmarshal(raw, &dc); err != nil {
				t.Fatal(err)
			}
			sc := imageConfig(t, e, ref).Config
			if diff := cmp.Diff(compareConfig(dc), compareConfig(sc)); diff != "" {
				t.Errorf("config (-docker +strata):\n%s", diff)
			}
		})
	}
}

// compareConfig keeps the fields both builders must agree on, with empty
// collections as nil.
func compareConfig(c build.Config) map[string]any {
	nilIfEmpty := func(v any) any {
		switch x := v.(type) {
		case []string:
			if len(x) == 0 {
				return nil
			}
		case map[string]string:
			if len(x) == 0 {
				return nil
			}
		case map[string]struct{}:
			if len(x) == 0 {
				return nil
			}
		}
		return v
	}
	return map[string]any{
		"Env": nilIfEmpty(c.Env), "Cmd": nilIfEmpty(c.Cmd), "Entrypoint": nilIfEmpty(c.Entrypoint),
		"WorkingDir": c.WorkingDir, "User": c.User, "ExposedPorts": nilIfEmpty(c.ExposedPorts),
		"Volumes": nilIfEmpty(c.Volumes), "Labels": nilIfEmpty(c.Labels), "StopSignal": c.StopSignal,
		"Healthcheck": c.Healthcheck, "Shell": nilIfEmpty(c.Shell), "OnBuild": nilIfEmpty(c.OnBuild),
	}
}

// skipped are paths docker export adds for the container, not the image.
func skipped(p string) bool {
	switch p {
	case ".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab":
		return true
	}
	for _, d := range []string{"dev", "proc", "sys"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

func entryDesc(typ byte, mode int64, uid, gid int, content []byte, link string) string {
	switch typ {
	case tar.TypeDir:
		return fmt.Sprintf("dir %o %d:%d", mode&0o7777, uid, gid)
	case tar.TypeSymlink:
		return fmt.Sprintf("link %s %d:%d", link, uid, gid)
	default:
		sum := sha256.Sum256(content)
		return fmt.Sprintf("file %o %d:%d %x", mode&0o7777, uid, gid, sum[:6])
	}
}

func exportTree(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	links := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		if name == "" || name == "." || skipped(name) {
			continue
		}
		if h.Typeflag == tar.TypeLink {
			links[name] = strings.TrimPrefix(h.Linkname, "./")
			continue
		}
		data, _ := io.ReadAll(tr)
		out[name] = entryDesc(h.Typeflag, h.Mode, h.Uid, h.Gid, data, h.Linkname)
	}
	for name, target := range links {
		out[name] = out[target]
	}
	return out
}

func strataTree(t *testing.T, e *engine.Engine, ref string) map[string]string {
	t.Helper()
	ctx := context.Background()
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	key := layer.ExtractKey()
	mounts, err := e.Snap.View(ctx, key, img.ChainID().String())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Snap.Remove(ctx, key)
	out := map[string]string{}
	err = layer.WithMounted(ctx, mounts, func(root string) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == root {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if skipped(rel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			uid, gid := ownerOf(fi.Sys())
			mode := int64(fi.Mode().Perm())
			if fi.Mode()&fs.ModeSetuid != 0 {
				mode |= 0o4000
			}
			if fi.Mode()&fs.ModeSetgid != 0 {
				mode |= 0o2000
			}
			if fi.Mode()&fs.ModeSticky != 0 {
				mode |= 0o1000
			}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				out[rel] = entryDesc(tar.TypeSymlink, mode, int(uid), int(gid), nil, target)
			case fi.IsDir():
				out[rel] = entryDesc(tar.TypeDir, mode, int(uid), int(gid), nil, "")
			default:
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				out[rel] = entryDesc(tar.TypeReg, mode, int(uid), int(gid), data, "")
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
