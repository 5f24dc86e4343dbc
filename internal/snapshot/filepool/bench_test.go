package filepool

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkDedupe pools two copies of a rootfs (STRATA_BENCH_ROOTFS, e.g.
// the Debian minbase one bench/store.sh caches), the second of which is all
// links to the first's entries, with MinSize 1 (every non-empty file) and
// 4 KiB (files that fill a block or more): time per pair and MB saved.
func BenchmarkDedupe(b *testing.B) {
	src := os.Getenv("STRATA_BENCH_ROOTFS")
	if src == "" {
		b.Skip("set STRATA_BENCH_ROOTFS to a rootfs directory")
	}
	for _, min := range []int64{1, 4096} {
		b.Run("min"+strconv.FormatInt(min, 10), func(b *testing.B) {
			var saved int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				for _, c := range []string{"1", "2"} {
					if out, err := exec.Command("cp", "-a", src, filepath.Join(dir, c)).CombinedOutput(); err != nil {
						b.Fatalf("cp: %v\n%s", err, out)
					}
				}
				p, err := Open(filepath.Join(dir, "pool"))
				if err != nil {
					b.Fatal(err)
				}
				p.MinSize = min
				exec.Command("sync").Run()
				b.StartTimer()
				for _, c := range []string{"1", "2"} {
					s, err := p.Dedupe(context.Background(), filepath.Join(dir, c), nil)
					if err != nil {
						b.Fatal(err)
					}
					saved += s.Saved
				}
			}
			b.ReportMetric(float64(saved)/float64(b.N)/1e6, "MB-saved/op")
		})
	}
}
