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
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/testutil"
)

// dockerCases are Dockerfiles built by both strata and docker; each must
// give the same files (paths, types, modes, owners, contents, link
// targets; mtimes aside) and the same config. A case's "base" Dockerfile,
// if any, is built first as the image "base:test".
var dockerCases = []struct {
	name  string
	base  string
	files map[string]string
	args  []string // --build-arg K=V
	// varying are files whose content differs from build to build
	// (logs with times, apt's binary caches): only their type, mode and
	// owner are compared.
	varying []string
}{
	{"whiteouts and opaque dirs", "", map[string]string{"Dockerfile": "FROM busybox\nRUN rm /opt/keep && rm -rf /opt/old && mkdir /opt/old && echo new > /opt/old/c\n"}, nil, nil},
	{"hardlinks and symlinks", "", map[string]string{"Dockerfile": "FROM busybox\nRUN mkdir /h && echo x > /h/a && ln /h/a /h/b && ln -s a /h/s && ln -s /nowhere /h/dangling\nCOPY tree/ /t/\n",
		"tree/f": "F", "tree/l": "->f", "tree/d/g": "G"}, nil, nil},
	{"chown and chmod", "", map[string]string{"Dockerfile": "FROM busybox\nCOPY --chown=app:staff --chmod=640 files/ /c/\nCOPY --chown=1234 a /u/\nCOPY --chmod=755 a /x\nRUN chown -R nobody /c && chmod 700 /c\n",
		"files/one": "1", "files/sub/two": "2", "a": "A"}, nil, nil},
	{"copy semantics", "", map[string]string{"Dockerfile": "FROM busybox\nWORKDIR /w\nCOPY *.txt ./\nCOPY dir /d\nCOPY dir/ /e/\nCOPY a.txt /f\nCOPY a.txt b.txt /g/\n",
		"a.txt": "A", "b.txt": "B", "c.md": "C", "dir/x": "X", "dir/sub/y": "Y"}, nil, nil},
	{"multi-stage", "", map[string]string{"Dockerfile": "FROM busybox AS one\nRUN echo 1 > /one\nFROM busybox AS two\nRUN echo 2 > /two\nFROM busybox\nCOPY --from=one /one /x/\nCOPY --from=1 /two /x/two\nCOPY --from=busybox /etc/group /x/group\n"}, nil, nil},
	{"onbuild", "FROM busybox\nONBUILD RUN echo triggered > /trig\nONBUILD ENV FROM_TRIGGER=yes\n", map[string]string{"Dockerfile": "FROM base:test\nRUN cat /trig > /copy\n"}, nil, nil},
	{"arg scoping", "", map[string]string{"Dockerfile": "ARG V=global\nARG BASE=busybox\nFROM $BASE\nRUN echo \"[$V]\" > /before\nARG V\nRUN echo \"[$V]\" > /after\nARG W=stage\nENV FROM_ARG=$W\nRUN echo \"$W $FROM_ARG\" > /w\n"}, nil, nil},
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
`}, nil, nil},
	// Docker 20.10's built-in frontend has no here-documents (they need a
	// newer "# syntax=" frontend it would pull), so none here.
	{"shell forms", "", map[string]string{"Dockerfile": "FROM busybox\nSHELL [\"/bin/sh\", \"-c\"]\nRUN echo one > /h1 && echo two >> /h1\nCMD echo shell form\nENTRYPOINT echo entry\n"}, nil, nil},
	// A RUN's sandbox (item 4): BuildKit's /etc/hosts and hostname, the
	// host's resolv.conf, no HOSTNAME variable; none of them in the layer.
	{"run sandbox", "", map[string]string{"Dockerfile": "FROM busybox\nRUN hostname > /hn; cat /etc/hosts > /hosts; env | sort > /env; test -s /etc/resolv.conf && echo yes > /rc\n"}, nil, nil},
	// FROM --platform as an architecture alone or an automatic ARG (item 1).
	{"platform forms", "", map[string]string{"Dockerfile": "FROM --platform=$BUILDPLATFORM busybox AS b\nRUN echo b > /b\nFROM --platform=$TARGETARCH busybox\nCOPY --from=b /b /b\nFROM --platform=$TARGETOS/$TARGETARCH busybox\nCOPY --from=1 /b /c\n"}, nil, nil},
	// USER before WORKDIR: the directories belong to the user, a trailing
	// slash is kept, WORKDIR on an existing directory and a RUN that
	// changes nothing still make layers, WORKDIR / does not (items 3, 6, 7).
	{"user before workdir", "", map[string]string{"Dockerfile": "FROM busybox\nUSER app\nWORKDIR /home/app/src/\nRUN touch made-by-app && id -u > uid\nWORKDIR /home/app/src\nRUN true\nUSER root\nWORKDIR /\nWORKDIR /opt\n"}, nil, nil},
	// A rootfs image: FROM scratch gets WorkingDir "/" (item 5).
	{"scratch rootfs", "", map[string]string{"Dockerfile": "FROM busybox AS rootfs\nRUN mkdir -p /out/bin /out/etc && cp /bin/busybox /out/bin/ && echo root:x:0:0::/:/bin/sh > /out/etc/passwd\nFROM scratch\nCOPY --from=rootfs /out/ /\nCMD [\"/bin/busybox\", \"sh\"]\n"}, nil, nil},
	// A Node app on an ONBUILD parent, as the old node:onbuild images:
	// no history row per trigger (item 8), the child's rows are the
	// triggers that ran.
	{"node onbuild parent", "FROM busybox\nRUN mkdir -p /usr/src/app\nWORKDIR /usr/src/app/\nONBUILD ARG NODE_ENV=production\nONBUILD COPY package.json /usr/src/app/\nONBUILD RUN echo \"install $NODE_ENV\" > installed && cat package.json >> installed\nONBUILD COPY . /usr/src/app\nCMD [\"npm\", \"start\"]\n",
		map[string]string{"Dockerfile": "FROM base:test\nEXPOSE 3000\n", "package.json": `{"name":"app","version":"1.0.0"}`, "server.js": "console.log('hi')\n"}, nil, nil},
	// ARG and ENV: ARG rows show the Dockerfile's default and never the
	// --build-arg value; RUN rows list the ARGs in scope as "|N K=V"
	// with what the RUN sees (an ENV of the same name wins) (item 9).
	{"arg env interplay", "", map[string]string{"Dockerfile": "ARG VERSION=1.2\nFROM busybox\nARG VERSION\nARG TOKEN\nARG MODE=dev\nENV MODE=prod PATH=/opt/bin:$PATH\nRUN echo \"$VERSION $TOKEN $MODE\" > /v\nARG UNSET\nARG VERSION\nRUN echo \"[$UNSET] $VERSION\" > /w\n"},
		[]string{"TOKEN=s3cret", "VERSION=9"}, nil},
	// A Go service's multi-stage build with a cache mount (no toolchain
	// here: the shape is what matters).
	{"go multi-stage cache mount", "", map[string]string{"Dockerfile": "FROM busybox AS build\nWORKDIR /src\nCOPY go.mod main.go ./\nRUN --mount=type=cache,target=/root/.cache/go-build echo object > /root/.cache/go-build/o && cat main.go > /app\nFROM busybox\nCOPY --from=build /app /usr/local/bin/app\nUSER nobody\nENTRYPOINT [\"/usr/local/bin/app\"]\n",
		"go.mod": "module example.com/app\n", "main.go": "package main\nfunc main() {}\n"}, nil, nil},
	// COPY --link: docker 20.10's built-in frontend has no --link (it needs
	// the dockerfile:1.4 frontend, which docker would pull), so docker
	// builds the same Dockerfile without it: a linked COPY's files, config
	// and history rows must be a plain COPY's (a new destination, parents
	// that exist below, a numeric --chown).
	{"copy link", "", map[string]string{"Dockerfile": "FROM busybox\nRUN echo x > /f\nCOPY --link big/ /big/\nCOPY --link a.txt /opt/new/deep/\nCOPY --link --chown=1000:50 a.txt /c/\n",
		"big/a": "A", "big/sub/b": "B", "big/sub/l": "->b", "a.txt": "A"}, nil, nil},
	{"dockerignore", "", map[string]string{"Dockerfile": "FROM busybox\nCOPY . /ctx/\n", ".dockerignore": "*.log\n!keep.log\nsecret/\n**/*.tmp\n",
		"a.log": "x", "keep.log": "k", "secret/s": "s", "sub/t.tmp": "t", "sub/ok": "ok"}, nil, nil},
}

// aptCase is an official image's apt layer: update, install, clean up, as
// the Debian-based official images do. It needs the Debian base
// (testutil.DebianRootfs) and the mirror (STRATA_TEST_APT=0 leaves it out).
// netbase's postinst writes /etc/hosts when there is none: BuildKit's RUN
// has one, so it lands in neither image (issue 19, item 4); debconf keeps
// the sandbox's hostname.
var aptCase = struct {
	name    string
	base    string
	files   map[string]string
	args    []string
	varying []string
}{"apt official image style", "", map[string]string{"Dockerfile": `FROM debian:bookworm
ENV LANG=C.UTF-8
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends netbase; \
	rm -rf /var/lib/apt/lists/*; \
	getent hosts localhost > /localhost
RUN groupadd -r app && useradd -r -g app app
USER app
WORKDIR /home/app/
CMD ["bash"]
`}, nil, []string{"var/log/dpkg.log", "var/log/apt/history.log", "var/log/apt/term.log", "var/log/apt/eipp.log.xz",
	"var/cache/ldconfig/aux-cache", "var/log/alternatives.log", "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin"}}

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
	importDocker := func(rootfs, ref string) {
		t.Helper()
		var tb bytes.Buffer
		tw := exec.Command("tar", "-C", rootfs, "-c", ".")
		tw.Stdout = &tb
		if err := tw.Run(); err != nil {
			t.Fatal(err)
		}
		if _, err := docker(&tb, "import", "-", ref); err != nil {
			t.Fatal(err)
		}
	}
	importDocker(rootfs, "busybox:latest")
	cases := dockerCases
	if os.Getenv("STRATA_TEST_APT") != "0" {
		cases = append(cases, aptCase)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := fmt.Sprintf("same:%d", i)
			network := "none"
			if tc.name == aptCase.name {
				// The Debian base, made once per machine and imported into
				// both. Its RUN needs the mirror: the host's network, while
				// a build's default has none.
				deb := testutil.DebianRootfs(t)
				if _, err := e.Import(context.Background(), engine.ImportOptions{Source: deb, Ref: "debian:bookworm"}); err != nil {
					t.Fatal(err)
				}
				importDocker(deb, "debian:bookworm")
				network = "host"
			}
			if tc.base != "" {
				bdir := writeContext(t, map[string]string{"Dockerfile": tc.base})
				mustBuild(t, e, engine.BuildOptions{Context: bdir, Tags: []string{"base:test"}})
				if _, err := docker(nil, "build", "--network", "none", "-q", "-t", "base:test", bdir); err != nil {
					t.Fatal(err)
				}
			}
			dir := writeContext(t, tc.files)
			bargs := map[string]string{}
			dargs := []string{"build", "--network", network, "-q", "-t", ref}
			for _, kv := range tc.args {
				k, v, _ := strings.Cut(kv, "=")
				bargs[k] = v
				dargs = append(dargs, "--build-arg", kv)
			}
			mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{ref}, BuildArgs: bargs, Network: network})
			ddir := dir
			if df := tc.files["Dockerfile"]; strings.Contains(df, "--link ") {
				files := maps.Clone(tc.files)
				files["Dockerfile"] = strings.ReplaceAll(df, "--link ", "")
				ddir = writeContext(t, files)
			}
			if _, err := docker(nil, append(dargs, ddir)...); err != nil {
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
			for _, p := range tc.varying {
				for _, m := range []map[string]string{want, got} {
					if v, ok := m[p]; ok {
						m[p] = strings.Join(strings.Fields(v)[:3], " ") + " (content varies)"
					}
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files (-docker +strata):\n%s", diff)
			}

			// Config, as inspect shows it.
			raw, err := docker(nil, "inspect", "--format", "{{json .Config}}", ref)
			if err != nil {
				t.Fatal(err)
			}
			var dc build.Config
			if err := json.Unmarshal(raw, &dc); err != nil {
				t.Fatal(err)
			}
			ins, err := e.InspectImage(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(compareConfig(dc), compareConfig(ins.Config)); diff != "" {
				t.Errorf("config (-docker +strata):\n%s", diff)
			}

			// History and layers: the rows the builders wrote (the
			// base's import rows differ) and how many layers they made.
			saved, err := docker(nil, "save", ref)
			if err != nil {
				t.Fatal(err)
			}
			dh, dlayers := builtHistory(t, savedConfig(t, saved))
			sh, slayers := builtHistory(t, imageConfig(t, e, ref))
			if diff := cmp.Diff(dh, sh); diff != "" {
				t.Errorf("history (-docker +strata):\n%s", diff)
			}
			if dlayers != slayers {
				t.Errorf("layers made by the build: docker %d, strata %d", dlayers, slayers)
			}
		})
	}
}

// builtHistory returns the history rows a Dockerfile build wrote (those
// with BuildKit's comment) as "CREATED_BY" or "CREATED_BY (empty)", and
// how many layers the image has beyond those its import rows account for.
func builtHistory(t *testing.T, img build.Image) ([]string, int) {
	t.Helper()
	var rows []string
	base := 0
	for _, h := range img.History {
		if h.Comment != build.CacheComment {
			if !h.EmptyLayer {
				base++ // a base image's layer
			}
			continue
		}
		row := h.CreatedBy
		if h.EmptyLayer {
			row += " (empty)"
		}
		rows = append(rows, row)
	}
	return rows, len(img.RootFS.DiffIDs) - base
}

// savedConfig reads the image config out of a docker save tarball of one
// image.
func savedConfig(t *testing.T, b []byte) build.Image {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(h.Name, ".json") {
			files[h.Name], _ = io.ReadAll(tr)
		}
	}
	var m []struct{ Config string }
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil || len(m) != 1 {
		t.Fatalf("docker save: manifest.json %q: %v", files["manifest.json"], err)
	}
	img, err := build.DecodeImage(files[m[0].Config])
	if err != nil {
		t.Fatal(err)
	}
	return img
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
