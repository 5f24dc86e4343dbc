package engine

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cacheMountDir holds RUN --mount=type=cache directories between builds:
//
//	<root>/build-cache-mounts/
//	    <id>/         what the RUNs left in the cache
//	    <id>.lock     flock: shared, or exclusive for sharing=locked|private
//	    <id>-1/       a second private copy while <id> was in use
func (e *Engine) cacheMountDir() string { return filepath.Join(e.root, "build-cache-mounts") }

// pruneCacheMounts removes every cache mount directory (`strata builder
// prune --all`) once no build runs (the store's exclusive lock), and says
// how many there were and their size.
func (e *Engine) pruneCacheMounts(ctx context.Context) (int, int64, error) {
	unlock, err := e.lock(ctx, true)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	dir := e.cacheMountDir()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for _, ent := range entries {
		if ent.IsDir() && !strings.HasPrefix(ent.Name(), ".") {
			n++
		}
	}
	size := dirSize(dir)
	return n, size, os.RemoveAll(dir)
}

// dirSize is the bytes of the regular files under dir (0 if it is missing).
func dirSize(dir string) int64 {
	var size int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return size
}
