package filepool

import (
	"context"
	"crypto/rand"
	"hash"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"
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

// BenchmarkContentHash hashes 1 MiB and 3 KB (the Debian image's median
// file is smaller) with ContentHash and the content hashes before it: the
// figures ContentHash's comment gives (MB/s a core).
func BenchmarkContentHash(b *testing.B) {
	hashes := map[string]func() (digest.Algorithm, hash.Hash){"current": ContentHash}
	for _, h := range legacyContentHashes {
		alg, _ := h()
		hashes[string(alg)] = h
	}
	data := make([]byte, 1<<20)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	for name, newHash := range hashes {
		for _, size := range []int{1 << 20, 3000} {
			b.Run(name+"/"+strconv.Itoa(size), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					_, h := newHash()
					h.Write(data[:size])
					h.Sum(nil)
				}
			})
		}
	}
}
