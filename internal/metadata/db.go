package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/errdefs"
)

const schemaVersion = "1"

var (
	bucketRoot   = []byte("v1")
	bucketImages = []byte("images")
	bucketLayers = []byte("layers")
	bucketMeta   = []byte("meta")
	bucketCache  = []byte("buildcache")
)

// DB is a handle on the database file; it holds nothing open between calls.
type DB struct {
	path    string
	timeout time.Duration
}

// Open makes sure the database at path exists with a known schema.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open metadata: %w", err)
	}
	db := &DB{path: path, timeout: 10 * time.Second}
	if t := os.Getenv("STRATA_DB_TIMEOUT"); t != "" {
		if d, err := time.ParseDuration(t); err == nil {
			db.timeout = d
		}
	}
	// Most opens find the schema in place: check it read-only, so that
	// every command does not pay a write transaction and its fdatasync.
	current := false
	if fileExists(path) {
		bdb, err := db.open(true)
		if err != nil {
			return nil, err
		}
		err = bdb.View(func(btx *bolt.Tx) error {
			root := btx.Bucket(bucketRoot)
			if root == nil || root.Bucket(bucketMeta) == nil {
				return nil
			}
			v := root.Bucket(bucketMeta).Get([]byte("version"))
			if v != nil && string(v) != schemaVersion {
				return fmt.Errorf("metadata schema version %s, this strata knows %s: %w", v, schemaVersion, errdefs.ErrFailedPrecondition)
			}
			current = v != nil && root.Bucket(bucketImages) != nil && root.Bucket(bucketLayers) != nil && root.Bucket(bucketCache) != nil
			return nil
		})
		bdb.Close()
		if err != nil {
			return nil, err
		}
	}
	if current {
		return db, nil
	}
	err := db.Update(context.Background(), func(tx *Tx) error {
		meta := tx.root.Bucket(bucketMeta)
		v := meta.Get([]byte("version"))
		if v == nil {
			return meta.Put([]byte("version"), []byte(schemaVersion))
		}
		if string(v) != schemaVersion {
			return fmt.Errorf("metadata schema version %s, this strata knows %s: %w", v, schemaVersion, errdefs.ErrFailedPrecondition)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// Tx is one transaction.
type Tx struct {
	tx   *bolt.Tx
	root *bolt.Bucket
}

func (db *DB) open(readOnly bool) (*bolt.DB, error) {
	bdb, err := bolt.Open(db.path, 0o600, &bolt.Options{Timeout: db.timeout, ReadOnly: readOnly && fileExists(db.path)})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store busy: another strata process held %s for over %s; try again: %w", db.path, db.timeout, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("open %s: %w", db.path, err)
	}
	return bdb, nil
}

// fileExists reports whether p is a database file bbolt has initialized:
// a process killed while creating it leaves an empty file, which only a
// read-write open can initialize.
func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Size() > 0
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bdb, err := db.open(true)
	if err != nil {
		return err
	}
	defer bdb.Close()
	return bdb.View(func(btx *bolt.Tx) error {
		root := btx.Bucket(bucketRoot)
		if root == nil {
			return fmt.Errorf("metadata %s has no schema: %w", db.path, errdefs.ErrFailedPrecondition)
		}
		return fn(&Tx{tx: btx, root: root})
	})
}

// Update runs fn in a read-write transaction; an error from fn rolls back.
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bdb, err := db.open(false)
	if err != nil {
		return err
	}
	defer bdb.Close()
	return bdb.Update(func(btx *bolt.Tx) error {
		root, err := btx.CreateBucketIfNotExists(bucketRoot)
		if err != nil {
			return err
		}
		for _, b := range [][]byte{bucketImages, bucketLayers, bucketMeta, bucketCache} {
			if _, err := root.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return fn(&Tx{tx: btx, root: root})
	})
}

// Image is a name pointing at a manifest (or index).
type Image struct {
	Name      string             `json:"name"`
	Target    ocispec.Descriptor `json:"target"`
	CreatedAt time.Time          `json:"createdAt"`
	UpdatedAt time.Time          `json:"updatedAt"`
	// RepoDigest is the manifest digest under which the name's repository
	// in a registry holds Target, once it was pulled from or pushed to
	// there (docker's RepoDigests); empty for a name never distributed.
	RepoDigest digest.Digest `json:"repoDigest,omitempty"`
}

// Layer is what Strata knows about one layer, by diffID.
type Layer struct {
	DiffID  digest.Digest `json:"diffID"`
	ChainID digest.Digest `json:"chainID"`
	// Size is the uncompressed tar size.
	Size int64 `json:"size"`
	// Blobs are compressed forms of this layer known to exist, locally or in
	// a registry (with the registry's host in Source).
	Blobs []ocispec.Descriptor `json:"blobs,omitempty"`
	// Index is the blob holding the tar-split index that rebuilds the
	// exact uncompressed tar from the unpacked snapshot.
	Index *ocispec.Descriptor `json:"index,omitempty"`
}

func getJSON(b *bolt.Bucket, key string, v any) error {
	raw := b.Get([]byte(key))
	if raw == nil {
		return errdefs.ErrNotFound
	}
	return json.Unmarshal(raw, v)
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

// Image returns the image of that exact name.
func (t *Tx) Image(name string) (Image, error) {
	var img Image
	if err := getJSON(t.root.Bucket(bucketImages), name, &img); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return img, fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
		}
		return img, fmt.Errorf("image %q: %w", name, err)
	}
	return img, nil
}

// PutImage creates or moves a name.
func (t *Tx) PutImage(img Image) error {
	if img.Name == "" {
		return fmt.Errorf("image with no name: %w", errdefs.ErrInvalidArgument)
	}
	now := time.Now().UTC()
	var old Image
	if err := getJSON(t.root.Bucket(bucketImages), img.Name, &old); err == nil {
		img.CreatedAt = old.CreatedAt
	} else if img.CreatedAt.IsZero() {
		img.CreatedAt = now
	}
	img.UpdatedAt = now
	return putJSON(t.root.Bucket(bucketImages), img.Name, img)
}

// DeleteImage removes a name; the content stays until gc.
func (t *Tx) DeleteImage(name string) error {
	b := t.root.Bucket(bucketImages)
	if b.Get([]byte(name)) == nil {
		return fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
	}
	return b.Delete([]byte(name))
}

// Images lists every name, sorted.
func (t *Tx) Images() ([]Image, error) {
	var out []Image
	err := t.root.Bucket(bucketImages).ForEach(func(k, v []byte) error {
		var img Image
		if err := json.Unmarshal(v, &img); err != nil {
			return fmt.Errorf("image record %q: %w", k, err)
		}
		out = append(out, img)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Layer returns what is known of a diffID.
func (t *Tx) Layer(diffID digest.Digest) (Layer, error) {
	var l Layer
	if err := getJSON(t.root.Bucket(bucketLayers), diffID.String(), &l); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return l, fmt.Errorf("layer %s: %w", diffID, errdefs.ErrNotFound)
		}
		return l, err
	}
	return l, nil
}

// PutLayer records a layer, merging the blobs known for it.
func (t *Tx) PutLayer(l Layer) error {
	var old Layer
	if err := getJSON(t.root.Bucket(bucketLayers), l.DiffID.String(), &old); err == nil {
		for _, b := range old.Blobs {
			if !hasBlob(l.Blobs, b.Digest) {
				l.Blobs = append(l.Blobs, b)
			}
		}
		if l.Index == nil {
			l.Index = old.Index
		}
		if l.Size == 0 {
			l.Size = old.Size
		}
	}
	return putJSON(t.root.Bucket(bucketLayers), l.DiffID.String(), l)
}

func hasBlob(ds []ocispec.Descriptor, d digest.Digest) bool {
	for _, x := range ds {
		if x.Digest == d {
			return true
		}
	}
	return false
}

// DeleteLayer forgets a layer.
func (t *Tx) DeleteLayer(diffID digest.Digest) error {
	return t.root.Bucket(bucketLayers).Delete([]byte(diffID.String()))
}

// Layers lists every layer record.
func (t *Tx) Layers() ([]Layer, error) {
	var out []Layer
	err := t.root.Bucket(bucketLayers).ForEach(func(k, v []byte) error {
		var l Layer
		if err := json.Unmarshal(v, &l); err != nil {
			return fmt.Errorf("layer record %q: %w", k, err)
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// Bucket gives later features (build cache) a named JSON bucket of their own.
func (t *Tx) Bucket(name string) (*bolt.Bucket, error) {
	if t.tx.Writable() {
		return t.root.CreateBucketIfNotExists([]byte(name))
	}
	b := t.root.Bucket([]byte(name))
	if b == nil {
		return nil, fmt.Errorf("bucket %s: %w", name, errdefs.ErrNotFound)
	}
	return b, nil
}
