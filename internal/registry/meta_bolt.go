package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/registry/backend"
)

// boltMeta is the embedded backend.Meta: the bbolt index of doc.go, held
// open by the one server process. Its GC lock is an in-process RWMutex,
// since no other process can open the file.
type boltMeta struct {
	db   *bolt.DB
	gcMu sync.RWMutex
}

// OpenBoltMeta opens (creating) the bbolt index at path.
func OpenBoltMeta(path string) (backend.Meta, error) {
	db, err := openIndex(path)
	if err != nil {
		return nil, err
	}
	return &boltMeta{db: db}, nil
}

func (m *boltMeta) Close() error { return m.db.Close() }

func notFound(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrNotFound)...)
}

func (m *boltMeta) LinkBlob(ctx context.Context, repo string, dgst digest.Digest) error {
	return m.db.Update(func(tx *bolt.Tx) error { return linkBlob(tx, repo, dgst, time.Now()) })
}

func (m *boltMeta) BlobLinked(ctx context.Context, repo string, dgst digest.Digest) (bool, error) {
	var ok bool
	err := m.db.View(func(tx *bolt.Tx) error { ok = blobLinked(tx, repo, dgst); return nil })
	return ok, err
}

func (m *boltMeta) MountBlob(ctx context.Context, repo, from string, dgst digest.Digest) (bool, error) {
	ok := false
	err := m.db.Update(func(tx *bolt.Tx) error {
		if from != "" && !blobLinked(tx, from, dgst) {
			return nil
		}
		ok = true
		return linkBlob(tx, repo, dgst, time.Now())
	})
	return ok, err
}

func (m *boltMeta) UnlinkBlob(ctx context.Context, repo string, dgst digest.Digest) error {
	return m.db.Update(func(tx *bolt.Tx) error {
		b, _ := repoBucket(tx, repo, false)
		if b == nil || b.Bucket(bucketBlobs).Get([]byte(dgst)) == nil {
			return notFound("%s@%s", repo, dgst)
		}
		return b.Bucket(bucketBlobs).Delete([]byte(dgst))
	})
}

func (m *boltMeta) ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
	var dgst digest.Digest
	err := m.db.View(func(tx *bolt.Tx) error {
		b, _ := repoBucket(tx, repo, false)
		if b == nil {
			return notFound("%s:%s", repo, tag)
		}
		v := b.Bucket(bucketTags).Get([]byte(tag))
		if v == nil {
			return notFound("%s:%s", repo, tag)
		}
		dgst = digest.Digest(v)
		return nil
	})
	return dgst, err
}

func (m *boltMeta) Manifest(ctx context.Context, repo string, dgst digest.Digest) (*backend.ManifestRecord, error) {
	var rec *manifestRecord
	err := m.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getManifest(tx, repo, dgst)
		return err
	})
	if errors.Is(err, errManifestUnknown) {
		return nil, notFound("%s@%s", repo, dgst)
	}
	return rec, err
}

func (m *boltMeta) PutManifest(ctx context.Context, repo string, dgst digest.Digest, rec *backend.ManifestRecord, tags []string, blobs, children []digest.Digest) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	check := func(b *bolt.Bucket) error {
		for _, d := range blobs {
			if b == nil || b.Bucket(bucketBlobs).Get([]byte(d)) == nil {
				return &backend.MissingError{Digest: d}
			}
		}
		for _, d := range children {
			if b == nil || b.Bucket(bucketManifests).Get([]byte(d)) == nil {
				return &backend.MissingError{Digest: d, Manifest: true}
			}
		}
		return nil
	}
	// Check in a read transaction first: a put that fails costs no write.
	if err := m.db.View(func(tx *bolt.Tx) error {
		b, _ := repoBucket(tx, repo, false)
		return check(b)
	}); err != nil {
		return err
	}
	return m.db.Update(func(tx *bolt.Tx) error {
		b, err := repoBucket(tx, repo, true)
		if err != nil {
			return err
		}
		if err := check(b); err != nil {
			return err
		}
		if err := b.Bucket(bucketManifests).Put([]byte(dgst), v); err != nil {
			return err
		}
		for _, t := range tags {
			if err := b.Bucket(bucketTags).Put([]byte(t), []byte(dgst)); err != nil {
				return err
			}
		}
		if rec.Subject != "" {
			return b.Bucket(bucketReferrers).Put(referrerKey(rec.Subject, dgst), nil)
		}
		return nil
	})
}

func (m *boltMeta) DeleteTag(ctx context.Context, repo, tag string) error {
	return m.db.Update(func(tx *bolt.Tx) error {
		b, _ := repoBucket(tx, repo, false)
		if b == nil || b.Bucket(bucketTags).Get([]byte(tag)) == nil {
			return notFound("%s:%s", repo, tag)
		}
		return b.Bucket(bucketTags).Delete([]byte(tag))
	})
}

func (m *boltMeta) DeleteManifest(ctx context.Context, repo string, dgst digest.Digest) error {
	return m.db.Update(func(tx *bolt.Tx) error {
		b, _ := repoBucket(tx, repo, false)
		if b == nil {
			return notFound("%s", repo)
		}
		rec, err := getManifest(tx, repo, dgst)
		if err != nil {
			return notFound("%s@%s", repo, dgst)
		}
		return deleteManifest(b, dgst, rec)
	})
}

func (m *boltMeta) Tags(ctx context.Context, repo, last string, n int) ([]string, bool, error) {
	var tags []string
	var more bool
	err := m.db.View(func(tx *bolt.Tx) error {
		b, _ := repoBucket(tx, repo, false)
		if b == nil {
			return notFound("%s", repo)
		}
		tags, more = page(b.Bucket(bucketTags), last, n)
		return nil
	})
	return tags, more, err
}

func (m *boltMeta) Repositories(ctx context.Context, last string, n int) ([]string, bool, error) {
	var repos []string
	var more bool
	err := m.db.View(func(tx *bolt.Tx) error {
		repos, more = page(tx.Bucket(bucketRepos), last, n)
		return nil
	})
	return repos, more, err
}

func (m *boltMeta) Referrers(ctx context.Context, repo string, subject digest.Digest) ([]backend.Referrer, error) {
	var out []backend.Referrer
	err := m.db.View(func(tx *bolt.Tx) error {
		b, _ := repoBucket(tx, repo, false)
		if b == nil {
			return nil
		}
		prefix := []byte(subject.String() + "\x00")
		c := b.Bucket(bucketReferrers).Cursor()
		for k, _ := c.Seek(prefix); k != nil && len(k) > len(prefix) && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
			dgst := digest.Digest(k[len(prefix):])
			rec, err := getManifest(tx, repo, dgst)
			if err != nil {
				continue // deleted meanwhile
			}
			out = append(out, backend.Referrer{Digest: dgst, Record: rec})
		}
		return nil
	})
	return out, err
}

func (m *boltMeta) PutUpload(ctx context.Context, id string, rec backend.UploadRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketUploads).Put([]byte(id), v) })
}

func (m *boltMeta) UpdateUpload(ctx context.Context, id string, from int64, rec backend.UploadRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUploads)
		old := b.Get([]byte(id))
		if old == nil {
			return notFound("upload %s", id)
		}
		var cur uploadRecord
		if err := json.Unmarshal(old, &cur); err != nil {
			return err
		}
		if cur.Offset != from {
			return fmt.Errorf("upload %s is at %d, not %d: %w", id, cur.Offset, from, errdefs.ErrConflict)
		}
		return b.Put([]byte(id), v)
	})
}

func (m *boltMeta) Upload(ctx context.Context, id string) (backend.UploadRecord, error) {
	var rec uploadRecord
	err := m.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUploads).Get([]byte(id))
		if v == nil {
			return notFound("upload %s", id)
		}
		return json.Unmarshal(v, &rec)
	})
	return rec, err
}

func (m *boltMeta) DeleteUpload(ctx context.Context, id string) error {
	return m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketUploads).Delete([]byte(id)) })
}

func (m *boltMeta) FinishUpload(ctx context.Context, id, repo string, dgst digest.Digest) error {
	return m.db.Update(func(tx *bolt.Tx) error {
		if id != "" {
			if err := tx.Bucket(bucketUploads).Delete([]byte(id)); err != nil {
				return err
			}
		}
		return linkBlob(tx, repo, dgst, time.Now())
	})
}

func (m *boltMeta) Uploads(ctx context.Context) (map[string]backend.UploadRecord, error) {
	out := map[string]backend.UploadRecord{}
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUploads).ForEach(func(k, v []byte) error {
			var rec uploadRecord
			_ = json.Unmarshal(v, &rec) // a bad record expires like an old one
			out[string(k)] = rec
			return nil
		})
	})
	return out, err
}

func (m *boltMeta) Lock(ctx context.Context, exclusive bool) (func(), error) {
	if exclusive {
		m.gcMu.Lock()
		return m.gcMu.Unlock, nil
	}
	m.gcMu.RLock()
	return m.gcMu.RUnlock, nil
}

func (m *boltMeta) Repos(ctx context.Context, fn func(backend.RepoState) error) error {
	return m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEach(func(name, _ []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			b := tx.Bucket(bucketRepos).Bucket(name)
			st := backend.RepoState{
				Name:      string(name),
				Manifests: map[digest.Digest]*backend.ManifestRecord{},
				Tags:      map[string]digest.Digest{},
				Links:     map[digest.Digest]time.Time{},
			}
			err := b.Bucket(bucketManifests).ForEach(func(k, v []byte) error {
				var rec manifestRecord
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("index record %s@%s: %w", name, k, err)
				}
				st.Manifests[digest.Digest(k)] = &rec
				return nil
			})
			if err != nil {
				return err
			}
			_ = b.Bucket(bucketTags).ForEach(func(k, v []byte) error {
				st.Tags[string(k)] = digest.Digest(v)
				return nil
			})
			_ = b.Bucket(bucketBlobs).ForEach(func(k, v []byte) error {
				st.Links[digest.Digest(k)] = decodeTime(v)
				return nil
			})
			return fn(st)
		})
	})
}

func (m *boltMeta) Sweep(ctx context.Context, repo string, manifests, links []digest.Digest) error {
	return m.db.Update(func(tx *bolt.Tx) error {
		b, _ := repoBucket(tx, repo, false)
		if b == nil {
			return nil
		}
		for _, d := range manifests {
			rec, err := getManifest(tx, repo, d)
			if err != nil {
				continue
			}
			if err := deleteManifest(b, d, rec); err != nil {
				return err
			}
		}
		for _, d := range links {
			if err := b.Bucket(bucketBlobs).Delete([]byte(d)); err != nil {
				return err
			}
		}
		return nil
	})
}
