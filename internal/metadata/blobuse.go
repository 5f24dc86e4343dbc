package metadata

import (
	"time"

	"github.com/opencontainers/go-digest"
)

// bucketBlobUse holds, per layer blob of the blob cache, when it was last
// used (written into the store, pushed, saved): v1/blobuse/<digest> →
// RFC 3339 time. Eviction takes the least recently used first.
var bucketBlobUse = []byte("blobuse")

// TouchBlob records that blob dgst was used at t.
func (t *Tx) TouchBlob(dgst digest.Digest, at time.Time) error {
	b, err := t.root.CreateBucketIfNotExists(bucketBlobUse)
	if err != nil {
		return err
	}
	return b.Put([]byte(dgst.String()), []byte(at.UTC().Format(time.RFC3339Nano)))
}

// BlobUses returns the last use of every blob one was recorded for.
func (t *Tx) BlobUses() (map[digest.Digest]time.Time, error) {
	out := map[digest.Digest]time.Time{}
	b := t.root.Bucket(bucketBlobUse)
	if b == nil {
		return out, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		if at, err := time.Parse(time.RFC3339Nano, string(v)); err == nil {
			out[digest.Digest(k)] = at
		}
		return nil
	})
	return out, err
}

// ForgetBlobUse drops the last use of dgst (its blob is gone).
func (t *Tx) ForgetBlobUse(dgst digest.Digest) error {
	b := t.root.Bucket(bucketBlobUse)
	if b == nil {
		return nil
	}
	return b.Delete([]byte(dgst.String()))
}
