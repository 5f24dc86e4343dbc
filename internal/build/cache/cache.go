// Package cache keeps the build step cache: which layer a step made, keyed
// by everything that decides its result, and the file hashes that let a
// warm check of a large context read no file data.
//
// Records live in the metadata database's "buildcache" bucket:
//
//	buildcache/
//	├── r/<key>            Record: the layer a step made (or that it made none)
//	├── i/<step id>        Inputs: the last file hashes and args of a step, for miss reasons
//	├── m/<dir>            Mount: a RUN --mount=type=cache dir's last use and size (mounts.go)
//	└── s/<context dir>    the stat cache of a context: path → (size, mtime, inode, mode, digest)
//
// A key is sha256(parent key, instruction, visible build args, source
// content hash). Records are gc roots (Store.Roots, which the engine
// registers) until `strata builder prune` drops them (Store.Prune, prune.go),
// least recently used first, together with the cache mount directories the
// Mount records describe (mountdir.go draws their directory). Layers and
// cache mounts are one list of Entry values, the rows of `system df -v`.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/metadata"
)

const bucket = "buildcache"

// Key hashes a step's parent key and the parts that decide its result.
func Key(parent digest.Digest, parts ...string) digest.Digest {
	h := sha256.New()
	io.WriteString(h, parent.String())
	for _, p := range parts {
		h.Write([]byte{0})
		io.WriteString(h, p)
	}
	return digest.NewDigest(digest.SHA256, h)
}

// Record is the result of one cached step.
type Record struct {
	Key     digest.Digest      `json:"key"`
	Empty   bool               `json:"empty,omitempty"` // the step changed no file
	ChainID digest.Digest      `json:"chainID,omitempty"`
	DiffID  digest.Digest      `json:"diffID,omitempty"`
	Blob    ocispec.Descriptor `json:"blob"`
	Size    int64              `json:"size"` // uncompressed layer bytes
	// Index is the layer's tar-split index when Blob, its uncompressed
	// form, is not stored (a build keeps only the snapshot and the index).
	Index *ocispec.Descriptor `json:"index,omitempty"`
	// Created is when the step ran; a rebuild reuses it so a cached image
	// keeps its digest.
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"lastUsed"`
	// UsageCount is how many builds made or reused the step.
	UsageCount int `json:"usageCount,omitempty"`
}

// Inputs are what a step saw last time, to explain a miss.
type Inputs struct {
	Files map[string]digest.Digest `json:"files,omitempty"`
	Args  map[string]string        `json:"args,omitempty"`
	// Layer is the chain ID of the snapshot the step made, and Dests,
	// for a COPY from the context, which source (a key of Files) each
	// destination path (relative to the rootfs) holds in it: the next run
	// links the files whose source is unchanged instead of copying them.
	Layer digest.Digest     `json:"layer,omitempty"`
	Dests map[string]string `json:"dests,omitempty"`
}

// Store is the cache on a metadata database.
type Store struct{ DB *metadata.DB }

func view(ctx context.Context, db *metadata.DB, fn func(get func(k string) []byte) error) error {
	return db.View(ctx, func(tx *metadata.Tx) error {
		b, err := tx.Bucket(bucket)
		if errors.Is(err, errdefs.ErrNotFound) {
			return fn(func(string) []byte { return nil })
		}
		if err != nil {
			return err
		}
		return fn(func(k string) []byte { return b.Get([]byte(k)) })
	})
}

func update(ctx context.Context, db *metadata.DB, fn func(put func(k string, v any) error, del func(k string) error) error) error {
	return db.Update(ctx, func(tx *metadata.Tx) error {
		b, err := tx.Bucket(bucket)
		if err != nil {
			return err
		}
		put := func(k string, v any) error {
			j, err := json.Marshal(v)
			if err != nil {
				return err
			}
			return b.Put([]byte(k), j)
		}
		return fn(put, func(k string) error { return b.Delete([]byte(k)) })
	})
}

// Get returns the record of key, ok false when there is none.
func (s *Store) Get(ctx context.Context, key digest.Digest) (rec Record, ok bool, err error) {
	err = view(ctx, s.DB, func(get func(string) []byte) error {
		v := get("r/" + key.String())
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &rec)
	})
	return rec, ok, err
}

// Put stores rec.
func (s *Store) Put(ctx context.Context, rec Record) error {
	if rec.LastUsed.IsZero() {
		rec.LastUsed = time.Now().UTC()
	}
	rec.UsageCount = max(rec.UsageCount, 1)
	return update(ctx, s.DB, func(put func(string, any) error, _ func(string) error) error {
		return put("r/"+rec.Key.String(), rec)
	})
}

// PutTx stores rec and, when id is set, the step's inputs, inside the
// caller's write transaction (so a step's layer record, cache record and
// inputs cost one commit).
func PutTx(tx *metadata.Tx, rec Record, id digest.Digest, in *Inputs) error {
	b, err := tx.Bucket(bucket)
	if err != nil {
		return err
	}
	if rec.LastUsed.IsZero() {
		rec.LastUsed = time.Now().UTC()
	}
	rec.UsageCount = max(rec.UsageCount, 1)
	j, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := b.Put([]byte("r/"+rec.Key.String()), j); err != nil {
		return err
	}
	if id == "" || in == nil {
		return nil
	}
	if j, err = json.Marshal(in); err != nil {
		return err
	}
	return b.Put([]byte("i/"+id.String()), j)
}

// Touch marks keys used now.
func (s *Store) Touch(ctx context.Context, keys []digest.Digest) error {
	if len(keys) == 0 {
		return nil
	}
	return s.DB.Update(ctx, func(tx *metadata.Tx) error { return TouchTx(tx, keys) })
}

// TouchTx marks keys used now inside the caller's write transaction.
func TouchTx(tx *metadata.Tx, keys []digest.Digest) error {
	if len(keys) == 0 {
		return nil
	}
	b, err := tx.Bucket(bucket)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, k := range keys {
		v := b.Get([]byte("r/" + k.String()))
		if v == nil {
			continue
		}
		var rec Record
		if json.Unmarshal(v, &rec) != nil {
			continue
		}
		rec.LastUsed = now
		rec.UsageCount = max(rec.UsageCount, 1) + 1
		j, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := b.Put([]byte("r/"+k.String()), j); err != nil {
			return err
		}
	}
	return nil
}

// Records lists every record, least recently used first.
func (s *Store) Records(ctx context.Context) ([]Record, error) {
	var out []Record
	err := scan(ctx, s.DB, "r/", "cache record", func(rec Record) { out = append(out, rec) })
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastUsed.Before(out[j].LastUsed) })
	return out, err
}

// Delete drops the records of keys.
func (s *Store) Delete(ctx context.Context, keys []digest.Digest) error {
	return update(ctx, s.DB, func(_ func(string, any) error, del func(string) error) error {
		for _, k := range keys {
			if err := del("r/" + k.String()); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteAll drops every record, input and stat entry. Cache mount
// records stay: their directories are removed one by one, under their
// locks, and a mount a build holds keeps its record.
func (s *Store) DeleteAll(ctx context.Context) error {
	return s.DB.Update(ctx, func(tx *metadata.Tx) error {
		b, err := tx.Bucket(bucket)
		if err != nil {
			return err
		}
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if strings.HasPrefix(string(k), "m/") {
				continue
			}
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetInputs returns what step id saw last.
func (s *Store) GetInputs(ctx context.Context, id digest.Digest) (in Inputs, ok bool, err error) {
	err = view(ctx, s.DB, func(get func(string) []byte) error {
		v := get("i/" + id.String())
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &in)
	})
	return in, ok, err
}

// PutInputs remembers what step id saw.
func (s *Store) PutInputs(ctx context.Context, id digest.Digest, in Inputs) error {
	return update(ctx, s.DB, func(put func(string, any) error, _ func(string) error) error {
		return put("i/"+id.String(), in)
	})
}

// statEntry is what a file looked like when it was hashed.
type statEntry struct {
	Size  int64         `json:"s"`
	Mtime int64         `json:"m"`
	Ctime int64         `json:"c"`
	Ino   uint64        `json:"i"`
	Mode  uint32        `json:"o"`
	Hash  digest.Digest `json:"h"`
}

// StatCache maps the files of one context directory to content hashes,
// trusting a remembered hash while (size, mtime, ctime, inode, mode) are
// unchanged. Hash may be called from several goroutines at once.
type StatCache struct {
	dir     string
	mu      sync.Mutex
	entries map[string]statEntry
	dirty   bool
}

// LoadStat reads the stat cache of the context dir.
func (s *Store) LoadStat(ctx context.Context, dir string) (*StatCache, error) {
	c := &StatCache{dir: dir, entries: map[string]statEntry{}}
	err := view(ctx, s.DB, func(get func(string) []byte) error {
		if v := get("s/" + dir); v != nil {
			_ = json.Unmarshal(v, &c.entries) // a damaged cache is only slower
		}
		return nil
	})
	return c, err
}

// SaveStat writes c back if it changed.
func (s *Store) SaveStat(ctx context.Context, c *StatCache) error {
	if c == nil || !c.dirty {
		return nil
	}
	return update(ctx, s.DB, func(put func(string, any) error, _ func(string) error) error {
		return put("s/"+c.dir, c.entries)
	})
}

// Hash returns the sha256 of the regular file full (named rel in the
// context), reading it only when its stat changed since it was last hashed.
func (c *StatCache) Hash(full, rel string, st *unix.Stat_t) (digest.Digest, error) {
	cur := statEntry{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino, Mode: st.Mode}
	c.mu.Lock()
	e, ok := c.entries[rel]
	c.mu.Unlock()
	if ok && e.Hash != "" {
		h := e.Hash
		e.Hash = ""
		if e == cur {
			return h, nil
		}
	}
	f, err := os.Open(full)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", rel, err)
	}
	cur.Hash = digest.NewDigest(digest.SHA256, h)
	c.mu.Lock()
	c.entries[rel] = cur
	c.dirty = true
	c.mu.Unlock()
	return cur.Hash, nil
}

// scan calls fn with each JSON record of the cache bucket whose key starts
// with prefix (what names the kind in errors).
func scan[T any](ctx context.Context, db *metadata.DB, prefix, what string, fn func(T)) error {
	return db.View(ctx, func(tx *metadata.Tx) error {
		b, err := tx.Bucket(bucket)
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			var x T
			if err := json.Unmarshal(v, &x); err != nil {
				return fmt.Errorf("%s %s: %w", what, k, err)
			}
			fn(x)
		}
		return nil
	})
}
