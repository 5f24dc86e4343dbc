package backend

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// BlobInfo describes a stored blob. ModTime is when it was stored (GC keeps
// blobs younger than its grace window).
type BlobInfo struct {
	Digest  digest.Digest
	Size    int64
	ModTime time.Time
}

// Blobs stores blobs under their digest. A blob is visible (Stat, Open,
// Walk) only once its bytes were verified against its digest: writers
// stage bytes elsewhere and make them visible in one step.
type Blobs interface {
	// Stat reports a blob, or ErrNotFound.
	Stat(ctx context.Context, dgst digest.Digest) (BlobInfo, error)
	// Open returns a reader that seeks (ranges are served by seeking);
	// the caller closes it.
	Open(ctx context.Context, dgst digest.Digest) (Blob, error)
	// Put stores size bytes of r (size -1: unknown) under dgst, verifying
	// them as they stream. A mismatch is ErrDataCorrupt and keeps nothing.
	Put(ctx context.Context, dgst digest.Digest, size int64, r io.Reader) error
	// Writer opens the upload session id, hashing with alg. state is nil
	// for a new session, else what the session's Writer.State returned
	// (perhaps on another replica).
	Writer(ctx context.Context, id string, alg digest.Algorithm, state []byte) (Writer, error)
	// Delete removes a blob; ErrNotFound if it is not there.
	Delete(ctx context.Context, dgst digest.Digest) error
	// Walk calls fn for every stored blob, in no particular order.
	Walk(ctx context.Context, fn func(BlobInfo) error) error
	// CleanUploads drops the staged bytes of sessions untouched for age.
	CleanUploads(ctx context.Context, age time.Duration) error
}

// Blob is an open blob: Seek serves ranges, Size is known up front.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
}

// Writer is one upload session's staged bytes. It is not safe for
// concurrent use; the registry serialises requests on one session.
type Writer interface {
	io.Writer
	// Offset is how many bytes the session holds.
	Offset() int64
	// State makes everything written so far durable and returns what
	// Blobs.Writer needs to resume the session anywhere. It is nil when
	// the store keeps sessions itself, by id (the local store: one
	// process, its own disk).
	State(ctx context.Context) ([]byte, error)
	// Commit verifies the session's bytes against dgst and makes them
	// visible under it. ErrDataCorrupt on a mismatch (the bytes are
	// dropped); ErrAlreadyExists when the blob was there already. The
	// writer is finished whatever Commit returns.
	Commit(ctx context.Context, dgst digest.Digest) error
	// Close releases the writer and keeps the bytes for a resume.
	Close() error
	// Abort drops the session's bytes.
	Abort(ctx context.Context) error
}

// Redirector is what a Blobs can do besides: hand clients a URL to fetch a
// blob from directly (S3 presigned GETs), as distribution's redirect
// middleware does.
type Redirector interface {
	RedirectURL(ctx context.Context, dgst digest.Digest) (string, error)
}

// ManifestRecord is what the metadata keeps of a manifest besides its bytes
// (which live in Blobs): enough to answer HEAD, the referrers API and GC
// without reading the blob.
type ManifestRecord struct {
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Subject      digest.Digest     `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Blobs are the config and layers that must stay; Children the
	// manifests of an index.
	Blobs    []digest.Digest `json:"blobs,omitempty"`
	Children []digest.Digest `json:"children,omitempty"`
	Created  time.Time       `json:"created"`
}

// UploadRecord is an upload session, so that it survives a restart and,
// with a shared Meta, continues on any replica.
type UploadRecord struct {
	Repo      string           `json:"repo"`
	Algorithm digest.Algorithm `json:"algorithm"`
	Started   time.Time        `json:"started"`
	// Updated, Offset and State are kept only for stores whose
	// Writer.State is not nil.
	Updated time.Time `json:"updated,omitzero"`
	Offset  int64     `json:"offset,omitempty"`
	State   []byte    `json:"state,omitempty"`
}

// Referrer is one manifest whose subject was asked for.
type Referrer struct {
	Digest digest.Digest
	Record *ManifestRecord
}

// RepoState is a consistent view of one repository, for GC and fsck.
type RepoState struct {
	Name      string
	Manifests map[digest.Digest]*ManifestRecord
	Tags      map[string]digest.Digest
	Links     map[digest.Digest]time.Time // blob -> when linked
}

// MissingError says which reference a manifest put found missing.
type MissingError struct {
	Digest   digest.Digest
	Manifest bool // a child manifest, else a blob
}

func (e *MissingError) Error() string {
	if e.Manifest {
		return fmt.Sprintf("manifest %s not in the repository", e.Digest)
	}
	return fmt.Sprintf("blob %s not in the repository", e.Digest)
}

// Meta is the registry's index. Every method is one transaction.
type Meta interface {
	// LinkBlob records that repo holds dgst (creating the repository).
	LinkBlob(ctx context.Context, repo string, dgst digest.Digest) error
	// BlobLinked reports whether repo holds dgst.
	BlobLinked(ctx context.Context, repo string, dgst digest.Digest) (bool, error)
	// MountBlob links dgst into repo if from links it, and reports
	// whether it did.
	MountBlob(ctx context.Context, repo, from string, dgst digest.Digest) (bool, error)
	// UnlinkBlob forgets a link; ErrNotFound if there was none.
	UnlinkBlob(ctx context.Context, repo string, dgst digest.Digest) error

	// ResolveTag returns the manifest a tag points at, or ErrNotFound.
	ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	// Manifest returns a manifest's record, or ErrNotFound.
	Manifest(ctx context.Context, repo string, dgst digest.Digest) (*ManifestRecord, error)
	// PutManifest records a manifest, points tags at it and records its
	// referrer entry, in one transaction that first checks that repo
	// holds every digest of blobs and every manifest of children (else a
	// *MissingError and nothing changes).
	PutManifest(ctx context.Context, repo string, dgst digest.Digest, rec *ManifestRecord, tags []string, blobs, children []digest.Digest) error
	// DeleteTag removes a tag (ErrNotFound if absent); the manifest stays.
	DeleteTag(ctx context.Context, repo, tag string) error
	// DeleteManifest removes a manifest with every tag on it and its
	// referrer entry; ErrNotFound if absent.
	DeleteManifest(ctx context.Context, repo string, dgst digest.Digest) error
	// Tags lists at most n tags after last in byte order and reports
	// whether more follow; ErrNotFound for an unknown repository. It is
	// an index scan: a page costs O(n) whatever the repository holds.
	Tags(ctx context.Context, repo, last string, n int) ([]string, bool, error)
	// Repositories lists repository names the same way.
	Repositories(ctx context.Context, last string, n int) ([]string, bool, error)
	// Referrers lists the manifests of repo whose subject is subject.
	Referrers(ctx context.Context, repo string, subject digest.Digest) ([]Referrer, error)

	// PutUpload records a new session.
	PutUpload(ctx context.Context, id string, rec UploadRecord) error
	// UpdateUpload replaces a session's record if its offset is still
	// from (compare-and-swap; ErrConflict when another request moved it,
	// ErrNotFound when it ended).
	UpdateUpload(ctx context.Context, id string, from int64, rec UploadRecord) error
	// Upload returns a session's record, or ErrNotFound.
	Upload(ctx context.Context, id string) (UploadRecord, error)
	// DeleteUpload forgets a session (no error if it is gone).
	DeleteUpload(ctx context.Context, id string) error
	// FinishUpload forgets a session and links its blob, atomically.
	FinishUpload(ctx context.Context, id, repo string, dgst digest.Digest) error
	// Uploads lists every session.
	Uploads(ctx context.Context) (map[string]UploadRecord, error)

	// Lock orders GC against writers across every process sharing the
	// metadata: writers hold it shared from relying on a blob existing
	// until the reference is recorded, GC exclusively while it marks and
	// sweeps. The returned func releases it.
	Lock(ctx context.Context, exclusive bool) (func(), error)
	// Repos calls fn with a consistent view of each repository.
	Repos(ctx context.Context, fn func(RepoState) error) error
	// Sweep removes manifests (with their tags and referrer entries) and
	// blob links of one repository.
	Sweep(ctx context.Context, repo string, manifests, links []digest.Digest) error

	Close() error
}
