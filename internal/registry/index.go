package registry

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/registry/backend"
)

// The index is a bbolt database; see doc.go for its buckets.
var (
	bucketRepos     = []byte("repos")
	bucketUploads   = []byte("uploads")
	bucketBlobs     = []byte("blobs")
	bucketManifests = []byte("manifests")
	bucketTags      = []byte("tags")
	bucketReferrers = []byte("referrers")
)

// manifestRecord and uploadRecord are the backend's records; bbolt keeps
// them as JSON.
type (
	manifestRecord = backend.ManifestRecord
	uploadRecord   = backend.UploadRecord
)

func openIndex(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open registry index %s: another registry server holds it", path)
		}
		return nil, fmt.Errorf("open registry index %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRepos, bucketUploads} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init registry index %s: %w", path, err)
	}
	return db, nil
}

// repoBucket returns the bucket of a repository and, when create is set,
// makes it with its sub-buckets. Without create it is nil for a repository
// that does not exist.
func repoBucket(tx *bolt.Tx, name string, create bool) (*bolt.Bucket, error) {
	repos := tx.Bucket(bucketRepos)
	if !create {
		return repos.Bucket([]byte(name)), nil
	}
	b, err := repos.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, err
	}
	for _, sub := range [][]byte{bucketBlobs, bucketManifests, bucketTags, bucketReferrers} {
		if _, err := b.CreateBucketIfNotExists(sub); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func encodeTime(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

func decodeTime(b []byte) time.Time {
	if len(b) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}

func linkBlob(tx *bolt.Tx, repo string, dgst digest.Digest, now time.Time) error {
	b, err := repoBucket(tx, repo, true)
	if err != nil {
		return err
	}
	return b.Bucket(bucketBlobs).Put([]byte(dgst), encodeTime(now))
}

func blobLinked(tx *bolt.Tx, repo string, dgst digest.Digest) bool {
	b, _ := repoBucket(tx, repo, false)
	return b != nil && b.Bucket(bucketBlobs).Get([]byte(dgst)) != nil
}

func getManifest(tx *bolt.Tx, repo string, dgst digest.Digest) (*manifestRecord, error) {
	b, _ := repoBucket(tx, repo, false)
	if b == nil {
		return nil, fmt.Errorf("%s@%s: %w", repo, dgst, errManifestUnknown)
	}
	v := b.Bucket(bucketManifests).Get([]byte(dgst))
	if v == nil {
		return nil, fmt.Errorf("%s@%s: %w", repo, dgst, errManifestUnknown)
	}
	var rec manifestRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("index record of %s@%s: %w", repo, dgst, err)
	}
	return &rec, nil
}

// referrerKey orders referrers by subject so one cursor seek lists them.
func referrerKey(subject, dgst digest.Digest) []byte {
	return []byte(subject.String() + "\x00" + dgst.String())
}

// deleteManifest drops a manifest record, every tag on it and its
// referrers entry.
func deleteManifest(b *bolt.Bucket, dgst digest.Digest, rec *manifestRecord) error {
	if err := b.Bucket(bucketManifests).Delete([]byte(dgst)); err != nil {
		return err
	}
	if rec.Subject != "" {
		if err := b.Bucket(bucketReferrers).Delete(referrerKey(rec.Subject, dgst)); err != nil {
			return err
		}
	}
	tags := b.Bucket(bucketTags)
	var drop [][]byte
	err := tags.ForEach(func(k, v []byte) error {
		if bytes.Equal(v, []byte(dgst)) {
			drop = append(drop, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := tags.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
