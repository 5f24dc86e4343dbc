package cache

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/metadata"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	db, err := metadata.Open(filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	return &Store{DB: db}
}

func TestKeyDependsOnEveryPart(t *testing.T) {
	base := Key("p", "RUN x", "args:A=1")
	for name, k := range map[string]digest.Digest{
		"parent":      Key("q", "RUN x", "args:A=1"),
		"instruction": Key("p", "RUN y", "args:A=1"),
		"args":        Key("p", "RUN x", "args:A=2"),
		"split":       Key("p", "RUN x", "args:A", "=1"),
	} {
		if k == base {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
	if Key("p", "RUN x", "args:A=1") != base {
		t.Error("the key is not deterministic")
	}
}

func TestRecordsLRUAndDelete(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	for i, k := range []digest.Digest{"sha256:a", "sha256:b", "sha256:c"} {
		if err := s.Put(ctx, Record{Key: k, LastUsed: now.Add(time.Duration(-i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Touch(ctx, []digest.Digest{"sha256:c"}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []digest.Digest
	for _, r := range recs {
		order = append(order, r.Key)
	}
	if diff := cmp.Diff([]digest.Digest{"sha256:b", "sha256:a", "sha256:c"}, order); diff != "" {
		t.Errorf("LRU order (-want +got):\n%s", diff)
	}
	if err := s.Delete(ctx, []digest.Digest{"sha256:b"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "sha256:b"); ok {
		t.Error("deleted record still there")
	}
	if err := s.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.Records(ctx); len(recs) != 0 {
		t.Errorf("%d records after DeleteAll", len(recs))
	}
}

// A warm check reads no file data: with the stat unchanged the remembered
// hash is returned even though the file is gone.
func TestStatCacheReadsNoDataWhileStatUnchanged(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	c, err := s.LoadStat(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	h1, err := c.Hash(p, "f", &st)
	if err != nil {
		t.Fatal(err)
	}
	if want := digest.FromString("hello"); h1 != want {
		t.Fatalf("hash %s, want %s", h1, want)
	}
	if err := s.SaveStat(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	c2, err := s.LoadStat(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := c2.Hash(p, "f", &st)
	if err != nil || h2 != h1 {
		t.Fatalf("cached hash %s, %v; want %s without reading the file", h2, err, h1)
	}
	// A changed stat (touch) makes it read again.
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	os.Chtimes(p, later, later)
	var st2 unix.Stat_t
	unix.Lstat(p, &st2)
	h3, err := c2.Hash(p, "f", &st2)
	if err != nil || h3 != h1 {
		t.Errorf("after touch: %s, %v; want the same content hash %s", h3, err, h1)
	}
}

func TestInputs(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	in := Inputs{Files: map[string]digest.Digest{"a": "sha256:1"}, Args: map[string]string{"V": "1"}}
	if err := s.PutInputs(ctx, "sha256:step", in); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.GetInputs(ctx, "sha256:step")
	if err != nil || !ok {
		t.Fatalf("GetInputs: %v %v", ok, err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
}
