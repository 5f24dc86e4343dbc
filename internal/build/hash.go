package build

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/build/cache"
)

// hashItems returns the content hash of the sources (names, types, modes,
// link targets and file contents; not mtimes or owners, which COPY does not
// keep either way) and each file's hash, for miss reasons. Files are read
// by a few workers; the hash takes them in walk order.
func hashItems(ctx context.Context, items []srcItem, stat *cache.StatCache, statRoot string) (digest.Digest, map[string]digest.Digest, error) {
	type entry struct {
		item  int
		full  string
		sub   string
		st    unix.Stat_t
		extra string        // a symlink's target
		fh    digest.Digest // a regular file's content hash
	}
	var entries []*entry
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, it := range items {
		err := walkItem(gctx, it, func(full, sub string, st *unix.Stat_t) error {
			e := &entry{item: i, full: full, sub: sub, st: *st}
			entries = append(entries, e)
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
				useStat := stat != nil && it.root == statRoot
				rel := path.Join(it.rel, sub)
				g.Go(func() error {
					var err error
					if useStat {
						e.fh, err = stat.Hash(e.full, rel, &e.st)
					} else {
						e.fh, err = hashFile(e.full)
					}
					return err
				})
			case unix.S_IFLNK:
				t, err := os.Readlink(full)
				if err != nil {
					return err
				}
				e.extra = t
			}
			return nil
		})
		if err != nil {
			if gerr := g.Wait(); gerr != nil {
				err = gerr // the walk stopped because a file could not be hashed
			}
			return "", nil, err
		}
	}
	if err := g.Wait(); err != nil {
		return "", nil, err
	}
	h := sha256.New()
	files := map[string]digest.Digest{}
	last := -1
	for _, e := range entries {
		it := items[e.item]
		for ; last < e.item; last++ {
			fmt.Fprintf(h, "item %s\x00", items[last+1].name)
		}
		line := fmt.Sprintf("%s\x00%o\x00%s\x00%s\x00%d", e.sub, e.st.Mode, e.fh, e.extra, e.st.Rdev)
		fmt.Fprintf(h, "%s\n", line)
		files[path.Join(it.rel, e.sub)] = digest.FromString(line)
	}
	for ; last < len(items)-1; last++ {
		fmt.Fprintf(h, "item %s\x00", items[last+1].name)
	}
	return digest.NewDigest(digest.SHA256, h), files, nil
}

func hashFile(p string) (digest.Digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return digest.FromReader(f)
}
