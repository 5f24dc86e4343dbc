package layer

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/snapshot/filepool"
	"github.com/strata-project/strata/internal/snapshot/native"
	"github.com/strata-project/strata/internal/snapshot/overlay"
	"github.com/strata-project/strata/internal/testutil"
)

// benchRootfs is the tree the layer benchmarks use: $STRATA_BENCH_ROOTFS
// (bench/store.sh points it at a debootstrap minbase), else they skip.
func benchRootfs(b *testing.B) (string, int64) {
	dir := os.Getenv("STRATA_BENCH_ROOTFS")
	if dir == "" {
		b.Skip("set STRATA_BENCH_ROOTFS to a root filesystem (bench/store.sh makes a Debian minbase)")
	}
	var n countWriter
	if err := archive.WriteDir(context.Background(), &n, dir, archive.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	return dir, n.n
}

// BenchmarkCreateUncompressed: directory → layer tar (compare `tar -c`).
func BenchmarkCreateUncompressed(b *testing.B) {
	dir, size := benchRootfs(b)
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		if err := archive.WriteDir(context.Background(), io.Discard, dir, archive.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateGzip: directory → diffID + gzip → content store, one pass.
func BenchmarkCreateGzip(b *testing.B) { benchCreate(b, archive.Gzip) }

// BenchmarkCreateZstd: the same with zstd.
func BenchmarkCreateZstd(b *testing.B) { benchCreate(b, archive.Zstd) }

func benchCreate(b *testing.B, comp archive.Compression) {
	dir, size := benchRootfs(b)
	cs, err := content.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := Create(context.Background(), cs, comp, func(w io.Writer) error {
			return archive.WriteDir(context.Background(), w, dir, archive.WriteOptions{})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnpack: layer tar → new snapshot (compare `tar -x`).
func BenchmarkUnpack(b *testing.B) {
	dir, size := benchRootfs(b)
	tarFile := filepath.Join(b.TempDir(), "layer.tar")
	f, err := os.Create(tarFile)
	if err != nil {
		b.Fatal(err)
	}
	if err := archive.WriteDir(context.Background(), f, dir, archive.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sn, err := native.New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		in, _ := os.Open(tarFile)
		b.StartTimer()
		if _, err := Unpack(context.Background(), sn, "", in, UnpackOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		in.Close()
		sn.Close()
		b.StartTimer()
	}
}

// BenchmarkUnpackPool: layer tar → new overlay snapshot, committed without
// and with a file pool (the pool pass at commit is what dedupe adds to a
// pull or a load): compare the two.
func BenchmarkUnpackPool(b *testing.B) {
	dir, size := benchRootfs(b)
	testutil.RequiresRoot(b)
	tarFile := filepath.Join(b.TempDir(), "layer.tar")
	f, err := os.Create(tarFile)
	if err != nil {
		b.Fatal(err)
	}
	if err := archive.WriteDir(context.Background(), f, dir, archive.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	for _, pool := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[pool], func(b *testing.B) {
			b.SetBytes(size)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				root := b.TempDir()
				sn, err := overlay.New(filepath.Join(root, "snapshots"))
				if err != nil {
					b.Fatal(err)
				}
				if pool {
					if sn.Pool, err = filepool.Open(filepath.Join(root, "files")); err != nil {
						b.Fatal(err)
					}
				}
				in, _ := os.Open(tarFile)
				b.StartTimer()
				if _, err := Unpack(context.Background(), sn, "", in, UnpackOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				in.Close()
				sn.Close()
				b.StartTimer()
			}
		})
	}
}
