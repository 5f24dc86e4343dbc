package archive

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchTree writes ~2,000 files totalling ~50 MB (half random, half
// repetitive text) in 40 directories and returns their total size.
func benchTree(b *testing.B, root string) int64 {
	b.Helper()
	cc := rand.NewChaCha8([32]byte{1})
	r := rand.New(cc)
	random := make([]byte, 64<<10)
	text := []byte(fmt.Sprintf("%0*d", 64<<10, 0))
	var total int64
	for i := range 2000 {
		dir := filepath.Join(root, fmt.Sprintf("dir%02d", i%40))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		size := 1 + r.IntN(50<<10) // mean 25 KiB
		src := text
		if i%2 == 0 {
			cc.Read(random)
			src = random
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%04d", i)), src[:size], 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(size)
	}
	return total
}

// benchLayer writes the tree's tar to a file and returns it with its size.
func benchLayer(b *testing.B) (string, int64) {
	b.Helper()
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	benchTree(b, src)
	p := filepath.Join(dir, "layer.tar")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := WriteDir(context.Background(), f, src, WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	return p, fi.Size()
}

func BenchmarkWriteDir(b *testing.B) {
	src := b.TempDir()
	total := benchTree(b, src)
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		if err := WriteDir(context.Background(), io.Discard, src, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	layer, size := benchLayer(b)
	dst := b.TempDir()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root := filepath.Join(dst, fmt.Sprint(i))
		if err := os.Mkdir(root, 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(layer)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := Apply(context.Background(), root, f, ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Close()
		os.RemoveAll(root)
		b.StartTimer()
	}
}

func benchmarkCompress(b *testing.B, c Compression) {
	layer, size := benchLayer(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(layer)
		if err != nil {
			b.Fatal(err)
		}
		w, err := Compress(io.Discard, c, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(w, f); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func BenchmarkCompressGzip(b *testing.B) { benchmarkCompress(b, Gzip) }
func BenchmarkCompressZstd(b *testing.B) { benchmarkCompress(b, Zstd) }
