package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// addChecksum reads ADD --checksum=ALGO:HEX ("" when not given). As
// BuildKit, it pins only what ADD downloads: every source must be an
// http(s) URL.
func (b *builder) addChecksum(in Instruction, env []string, srcs []string) (digest.Digest, error) {
	raw := in.flag("checksum")
	if raw == "" {
		return "", nil
	}
	v, err := b.expand(in, raw, env)
	if err != nil {
		return "", err
	}
	if in.Cmd != "add" {
		return "", b.errAt(in, "--checksum is a flag of ADD, not COPY")
	}
	want, err := digest.Parse(v)
	if err != nil {
		return "", b.errAt(in, "ADD --checksum=%s: want ALGORITHM:HEX such as sha256:9f86d0…: %v", v, err)
	}
	for _, s := range srcs {
		if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
			return "", b.errAt(in, "ADD --checksum applies only to http(s) sources; %s is not one", s)
		}
	}
	return want, nil
}

// verifyDownload checks what ADD fetched from url against --checksum.
func verifyDownload(p, url string, want digest.Digest) error {
	if want == "" {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	v := want.Algorithm().Digester()
	if _, err := io.Copy(v.Hash(), f); err != nil {
		return err
	}
	if got := v.Digest(); got != want {
		return fmt.Errorf("ADD %s: checksum mismatch: --checksum wants %s, the download is %s", url, want, got)
	}
	return nil
}

// copyParentsOn says whether COPY --parents is set (--parents=false is off).
func copyParentsOn(in Instruction) (bool, error) {
	v := in.flag("parents")
	if v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("--parents=%s: want true or false", v)
	}
	return on, nil
}

// parentsCopier returns COPY --parents' copy: as BuildKit's labs feature,
// each source keeps its path under its tree below the destination
// (COPY --parents a/b/c.txt /d/ writes /d/a/b/c.txt); in a source with a
// "/./" pivot only the part after it is kept (./a/./b/c.txt → /d/b/c.txt).
func parentsCopier(srcs []string) func(ctx context.Context, rootfs string, items []srcItem, dest string, destDir bool, o copyOpts) error {
	var pivots []string
	for _, s := range srcs {
		if i := strings.Index(s, "/./"); i >= 0 {
			pivots = append(pivots, strings.TrimPrefix(path.Clean("/"+s[:i]), "/"))
		}
	}
	return func(ctx context.Context, rootfs string, items []srcItem, dest string, _ bool, o copyOpts) error {
		for _, it := range items {
			rel := parentsRel(it.rel, pivots)
			var st unix.Stat_t
			if err := unix.Lstat(it.full, &st); err != nil {
				return err
			}
			target := path.Join(dest, path.Dir(rel))
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				target = path.Join(dest, rel)
			}
			if err := copyItems(ctx, rootfs, []srcItem{it}, target, true, o); err != nil {
				return err
			}
		}
		return nil
	}
}

func parentsRel(rel string, pivots []string) string {
	for _, p := range pivots {
		if p == "" {
			continue
		}
		if rel == p {
			return "."
		}
		if strings.HasPrefix(rel, p+"/") {
			return strings.TrimPrefix(rel, p+"/")
		}
	}
	return rel
}

// parentsKey adds the sources' paths to a COPY --parents cache key: the
// content hash names only base names, and --parents writes whole paths.
func parentsKey(items []srcItem) string {
	var rels []string
	for _, it := range items {
		rels = append(rels, it.rel)
	}
	return " parents:" + strings.Join(rels, "\x00")
}
