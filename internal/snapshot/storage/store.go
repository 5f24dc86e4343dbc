package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/snapshot"
)

var (
	bucketV1        = []byte("v1")
	bucketSnapshots = []byte("snapshots")
	bucketLabels    = []byte("labels")
	keyID           = []byte("id")
	keyKind         = []byte("kind")
	keyParent       = []byte("parent")
	keyCreated      = []byte("created")
	keyUpdated      = []byte("updated")
)

// lockTimeout is how long a call waits for another process's transaction.
var lockTimeout = 10 * time.Second

// record is a snapshot's stored record.
type record struct {
	id   uint64
	info snapshot.Info
}

// begin opens the database, runs fn in one transaction and closes it again,
// so that other strata processes can use the root between calls.
func (s *Snapshotter) begin(write bool, fn func(*bolt.Tx) error) error {
	db, err := bolt.Open(s.dbPath(), 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: !write})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("snapshot store busy: another strata process has held %s for %s; retry when it is done: %w",
			s.dbPath(), lockTimeout, errdefs.ErrUnavailable)
	}
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	defer db.Close()
	if write {
		return db.Update(fn)
	}
	return db.View(fn)
}

func (s *Snapshotter) view(fn func(*bolt.Tx) error) error   { return s.begin(false, fn) }
func (s *Snapshotter) update(fn func(*bolt.Tx) error) error { return s.begin(true, fn) }

func (s *Snapshotter) dbPath() string { return filepath.Join(s.root, "metadata.db") }

// initDB creates the database and its buckets if they are missing.
func (s *Snapshotter) initDB() error {
	// Most opens find the schema in place: check it read-only first, so
	// that every strata command does not pay a write and its fdatasync.
	if _, err := os.Stat(s.dbPath()); err == nil {
		ok := false
		if err := s.view(func(tx *bolt.Tx) error {
			_, err := snapshotsBucket(tx)
			ok = err == nil
			return nil
		}); err == nil && ok {
			return nil
		}
	}
	return s.update(func(tx *bolt.Tx) error {
		v1, err := tx.CreateBucketIfNotExists(bucketV1)
		if err != nil {
			return err
		}
		_, err = v1.CreateBucketIfNotExists(bucketSnapshots)
		return err
	})
}

func snapshotsBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	v1 := tx.Bucket(bucketV1)
	if v1 == nil || v1.Bucket(bucketSnapshots) == nil {
		return nil, fmt.Errorf("snapshot store has no v1/snapshots bucket: %w", errdefs.ErrDataCorrupt)
	}
	return v1.Bucket(bucketSnapshots), nil
}

// get reads the record of key.
func get(tx *bolt.Tx, key string) (record, error) {
	sb, err := snapshotsBucket(tx)
	if err != nil {
		return record{}, err
	}
	b := sb.Bucket([]byte(key))
	if b == nil {
		return record{}, fmt.Errorf("snapshot %q: %w", key, errdefs.ErrNotFound)
	}
	return decode(key, b)
}

func decode(key string, b *bolt.Bucket) (record, error) {
	r := record{info: snapshot.Info{Name: key, Parent: string(b.Get(keyParent))}}
	id, kind := b.Get(keyID), b.Get(keyKind)
	if len(id) != 8 || len(kind) != 1 {
		return record{}, fmt.Errorf("snapshot %q: bad record: %w", key, errdefs.ErrDataCorrupt)
	}
	r.id = binary.BigEndian.Uint64(id)
	r.info.Kind = snapshot.Kind(kind[0])
	if err := r.info.Created.UnmarshalBinary(b.Get(keyCreated)); err != nil {
		return record{}, fmt.Errorf("snapshot %q: bad created time: %w", key, errdefs.ErrDataCorrupt)
	}
	if err := r.info.Updated.UnmarshalBinary(b.Get(keyUpdated)); err != nil {
		return record{}, fmt.Errorf("snapshot %q: bad updated time: %w", key, errdefs.ErrDataCorrupt)
	}
	if lb := b.Bucket(bucketLabels); lb != nil {
		r.info.Labels = map[string]string{}
		if err := lb.ForEach(func(k, v []byte) error {
			r.info.Labels[string(k)] = string(v)
			return nil
		}); err != nil {
			return record{}, err
		}
	}
	return r, nil
}

// put writes r under r.info.Name, which must not exist.
func put(tx *bolt.Tx, r record) error {
	sb, err := snapshotsBucket(tx)
	if err != nil {
		return err
	}
	b, err := sb.CreateBucket([]byte(r.info.Name))
	if errors.Is(err, bolt.ErrBucketExists) {
		return fmt.Errorf("snapshot %q: %w", r.info.Name, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return err
	}
	id := make([]byte, 8)
	binary.BigEndian.PutUint64(id, r.id)
	created, err := r.info.Created.MarshalBinary()
	if err != nil {
		return err
	}
	updated, err := r.info.Updated.MarshalBinary()
	if err != nil {
		return err
	}
	kv := [][2][]byte{{keyID, id}, {keyKind, {byte(r.info.Kind)}}, {keyCreated, created}, {keyUpdated, updated}}
	if r.info.Parent != "" {
		kv = append(kv, [2][]byte{keyParent, []byte(r.info.Parent)})
	}
	for _, p := range kv {
		if err := b.Put(p[0], p[1]); err != nil {
			return err
		}
	}
	if len(r.info.Labels) > 0 {
		lb, err := b.CreateBucket(bucketLabels)
		if err != nil {
			return err
		}
		for k, v := range r.info.Labels {
			if err := lb.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// all reads every record, in key order.
func all(tx *bolt.Tx) ([]record, error) {
	sb, err := snapshotsBucket(tx)
	if err != nil {
		return nil, err
	}
	var out []record
	err = sb.ForEachBucket(func(k []byte) error {
		r, err := decode(string(k), sb.Bucket(k))
		out = append(out, r)
		return err
	})
	return out, err
}

// hasChildren reports whether any snapshot has name as its parent.
func hasChildren(tx *bolt.Tx, name string) (string, error) {
	sb, err := snapshotsBucket(tx)
	if err != nil {
		return "", err
	}
	child := ""
	err = sb.ForEachBucket(func(k []byte) error {
		if child == "" && string(sb.Bucket(k).Get(keyParent)) == name {
			child = string(k)
		}
		return nil
	})
	return child, err
}

// chain returns the records of parent and its ancestors, nearest first.
// parent must be committed.
func chain(tx *bolt.Tx, parent string) ([]record, error) {
	var out []record
	for name := parent; name != ""; {
		r, err := get(tx, name)
		if err != nil {
			if name != parent {
				return nil, fmt.Errorf("parent chain of %q: %w", parent, err)
			}
			return nil, fmt.Errorf("parent: %w", err)
		}
		if r.info.Kind != snapshot.KindCommitted {
			return nil, fmt.Errorf("parent %q is %s, not committed: %w", name, r.info.Kind, errdefs.ErrInvalidArgument)
		}
		out = append(out, r)
		name = r.info.Parent
		if len(out) > 10000 {
			return nil, fmt.Errorf("parent chain of %q loops: %w", parent, errdefs.ErrDataCorrupt)
		}
	}
	return out, nil
}

func ids(rs []record) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.id
	}
	return out
}

func removeIfExists(path string) error {
	if err := os.RemoveAll(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
