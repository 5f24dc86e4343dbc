package content

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/verify"
)

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestWriteCommitRead(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := randBytes(1 << 20)
	dgst := digest.FromBytes(data)
	got, n, err := s.WriteBlob(ctx, bytes.NewReader(data), int64(len(data)), dgst)
	if err != nil || got != dgst || n != int64(len(data)) {
		t.Fatalf("WriteBlob = %s %d %v", got, n, err)
	}
	p, _ := s.BlobPath(dgst)
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o444 {
		t.Fatalf("blob file %v mode %v, want read-only", err, fi.Mode())
	}
	// idempotent
	if _, _, err := s.WriteBlob(ctx, bytes.NewReader(data), int64(len(data)), dgst); err != nil {
		t.Fatalf("second WriteBlob: %v", err)
	}
	b, err := s.ReadAll(ctx, ocispec.Descriptor{Digest: dgst, Size: int64(len(data))}, 2<<20)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("ReadAll: %v", err)
	}
	if err := s.Verify(ctx, dgst); err != nil {
		t.Fatal(err)
	}
	// no ingest left behind
	if ings, _ := s.Ingests(ctx); len(ings) != 0 {
		t.Errorf("ingests left: %+v", ings)
	}
}

func TestMismatchKeepsNothing(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := []byte("hello")
	cases := []struct {
		name string
		size int64
		dgst digest.Digest
	}{
		{"wrong digest", 5, digest.FromString("other")},
		{"short", 6, digest.FromBytes(data)},
		{"long", 4, digest.FromBytes(data)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.WriteBlob(ctx, bytes.NewReader(data), tc.size, tc.dgst)
			var me *verify.MismatchError
			if !errors.As(err, &me) || !errors.Is(err, errdefs.ErrDataCorrupt) {
				t.Fatalf("err = %v, want a MismatchError", err)
			}
			n := 0
			s.Walk(ctx, func(Info) error { n++; return nil })
			if n != 0 {
				t.Errorf("%d blobs kept after a mismatch", n)
			}
			if ings, _ := s.Ingests(ctx); len(ings) != 0 {
				t.Errorf("ingests left: %+v", ings)
			}
		})
	}
}

func TestResumableIngest(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := randBytes(300000)
	dgst := digest.FromBytes(data)
	w, err := s.Writer(ctx, WriterOptions{Ref: dgst.String()})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:100000])
	w.Close() // cut short: the bytes stay
	// a second writer of the same ref is refused while one holds it
	w1, _ := s.Writer(ctx, WriterOptions{Ref: dgst.String()})
	if _, err := s.Writer(ctx, WriterOptions{Ref: dgst.String()}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("second writer of a held ingest: %v", err)
	}
	if w1.Offset() != 100000 {
		t.Fatalf("resumed at %d, want 100000", w1.Offset())
	}
	w1.Write(data[100000:])
	if err := w1.Commit(ctx, int64(len(data)), dgst); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info(ctx, dgst); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentWritersOfOneBlob(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := randBytes(1 << 20)
	dgst := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.WriteBlob(ctx, bytes.NewReader(data), int64(len(data)), dgst)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if err := s.Verify(ctx, dgst); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyFindsCorruption(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := randBytes(4096)
	dgst, _, _ := s.WriteBlob(ctx, bytes.NewReader(data), -1, "")
	p, _ := s.BlobPath(dgst)
	os.Chmod(p, 0o644)
	os.WriteFile(p, append(data[:100:100], 'x'), 0o644)
	if err := s.Verify(ctx, dgst); !errors.Is(err, errdefs.ErrDataCorrupt) {
		t.Fatalf("Verify of a corrupt blob: %v", err)
	}
	rc, _ := s.Reader(ctx, ocispec.Descriptor{Digest: dgst, Size: 4096})
	if _, err := io.ReadAll(rc); !errors.Is(err, errdefs.ErrDataCorrupt) {
		t.Errorf("Reader of a corrupt blob: %v", err)
	}
}

func TestCleanIngests(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	w, _ := s.Writer(ctx, WriterOptions{Ref: "keep-me"})
	w.Write([]byte("partial"))
	w.Close()
	// a private ingest a dead process left
	os.MkdirAll(filepath.Join(s.Root(), "ingest", "tmp-dead"), 0o755)
	os.WriteFile(filepath.Join(s.Root(), "ingest", "tmp-dead", "data"), []byte("x"), 0o644)
	n, err := s.CleanIngests(ctx, 1<<40)
	if err != nil || n != 1 {
		t.Fatalf("CleanIngests = %d, %v; want the dead private ingest only", n, err)
	}
	if ings, _ := s.Ingests(ctx); len(ings) != 1 || ings[0].Ref != "keep-me" {
		t.Errorf("ingests = %+v", ings)
	}
}

func TestBadDigestRefused(t *testing.T) {
	s := open(t)
	for _, d := range []digest.Digest{"sha256:../../etc/passwd", "md5:abc", "sha256:XYZ"} {
		if _, err := s.BlobPath(d); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("BlobPath(%q) = %v, want invalid argument", d, err)
		}
	}
}

// BenchmarkIngest measures the store's write path (hash + write + fsync +
// rename); compare with `sha256sum` of the same bytes (bench/store.sh).
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	s := open(b)
	data := randBytes(64 << 20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		data[0] = byte(i) // a new blob each time
		if _, _, err := s.WriteBlob(ctx, bytes.NewReader(data), -1, ""); err != nil {
			b.Fatal(err)
		}
	}
}
