package s3blobs

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/registry/backend"
)

// Config is the storage.s3 section of the registry configuration.
type Config struct {
	// Endpoint is the S3 service URL (empty: AWS for Region).
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
	Bucket   string `yaml:"bucket"`
	// Prefix is prepended to every key ("reg/").
	Prefix    string `yaml:"prefix"`
	AccessKey string `yaml:"access-key"`
	SecretKey string `yaml:"secret-key"`
	// ForcePathStyle addresses the bucket in the path (MinIO, Ceph,
	// versitygw) rather than the host name.
	ForcePathStyle bool `yaml:"force-path-style"`
	// Redirect answers blob GETs with a presigned URL (307) so clients
	// fetch bytes from S3 directly.
	Redirect bool `yaml:"redirect"`
}

// ChunkSize is how much an upload buffers before writing a chunk object.
const ChunkSize = 8 << 20

// minPart is S3's smallest part but the last.
const minPart = 5 << 20

// Blobs is a backend.Blobs on an S3 bucket.
type Blobs struct {
	c       *s3.Client
	presign *s3.PresignClient
	cfg     Config
}

var (
	_ backend.Blobs      = (*Blobs)(nil)
	_ backend.Redirector = (*Blobs)(nil)
)

// Open checks the configuration, connects and makes sure the bucket
// exists (creating it if the store allows).
func Open(ctx context.Context, cfg Config) (*Blobs, error) {
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("s3: bucket is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	opts := s3.Options{
		Region:       cfg.Region,
		UsePathStyle: cfg.ForcePathStyle,
		HTTPClient:   &http.Client{Transport: tr},
		// Checksums only where S3 requires them: other stores do not all
		// know the newer trailing-checksum headers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		// A few quick retries, then the registry answers 503 and the
		// client retries: an unreachable store must not hold requests.
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.MaxBackoff = 500 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	}
	if cfg.AccessKey != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")
	}
	if cfg.Endpoint != "" {
		if u, err := url.Parse(cfg.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("s3: endpoint %q: want a URL such as http://127.0.0.1:7070", cfg.Endpoint)
		}
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	c := s3.New(opts)
	b := &Blobs{c: c, presign: s3.NewPresignClient(c), cfg: cfg}
	_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &cfg.Bucket})
	if errors.Is(mapErr(err), errdefs.ErrNotFound) {
		_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &cfg.Bucket})
	}
	if err != nil {
		return nil, fmt.Errorf("s3 bucket %s at %s: %w", cfg.Bucket, cfg.Endpoint, mapErr(err))
	}
	return b, nil
}

// mapErr turns S3 answers into errdefs kinds: 404 NotFound, 412
// AlreadyExists (a conditional write lost), 5xx, 429 and failures to reach
// the store Unavailable.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code == 0: // no answer: the request was never sent
			return fmt.Errorf("%w: %v", errdefs.ErrUnavailable, err)
		case code == http.StatusNotFound:
			return fmt.Errorf("%w: %v", errdefs.ErrNotFound, err)
		case code == http.StatusPreconditionFailed:
			return fmt.Errorf("%w: %v", errdefs.ErrAlreadyExists, err)
		case code >= 500 || code == http.StatusTooManyRequests:
			return fmt.Errorf("%w: %v", errdefs.ErrUnavailable, err)
		}
		return err
	}
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return fmt.Errorf("%w: %v", errdefs.ErrNotFound, err)
	}
	// No HTTP answer at all: the store is down or unreachable.
	return fmt.Errorf("%w: %v", errdefs.ErrUnavailable, err)
}

func (b *Blobs) blobKey(dgst digest.Digest) string {
	return b.cfg.Prefix + "blobs/" + string(dgst.Algorithm()) + "/" + dgst.Encoded()
}

func (b *Blobs) uploadPrefix(id string) string { return b.cfg.Prefix + "uploads/" + id + "/" }

func (b *Blobs) chunkKey(id string, n int) string {
	return fmt.Sprintf("%s%08d", b.uploadPrefix(id), n)
}

// Stat is a HEAD of the blob's key.
func (b *Blobs) Stat(ctx context.Context, dgst digest.Digest) (backend.BlobInfo, error) {
	if err := dgst.Validate(); err != nil {
		return backend.BlobInfo{}, fmt.Errorf("blob %s: %w", dgst, errdefs.ErrNotFound)
	}
	out, err := b.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.cfg.Bucket, Key: aws.String(b.blobKey(dgst))})
	if err != nil {
		return backend.BlobInfo{}, fmt.Errorf("blob %s: %w", dgst, mapErr(err))
	}
	return backend.BlobInfo{Digest: dgst, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// RedirectURL presigns a GET of the blob, valid for 20 minutes.
func (b *Blobs) RedirectURL(ctx context.Context, dgst digest.Digest) (string, error) {
	if !b.cfg.Redirect {
		return "", nil
	}
	req, err := b.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &b.cfg.Bucket, Key: aws.String(b.blobKey(dgst))},
		s3.WithPresignExpires(20*time.Minute))
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", dgst, err)
	}
	return req.URL, nil
}

func (b *Blobs) Delete(ctx context.Context, dgst digest.Digest) error {
	if _, err := b.Stat(ctx, dgst); err != nil {
		return err
	}
	_, err := b.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.cfg.Bucket, Key: aws.String(b.blobKey(dgst))})
	if err != nil {
		return fmt.Errorf("delete blob %s: %w", dgst, mapErr(err))
	}
	return nil
}

// Walk lists <prefix>blobs/; keys that are not a digest are skipped.
func (b *Blobs) Walk(ctx context.Context, fn func(backend.BlobInfo) error) error {
	prefix := b.cfg.Prefix + "blobs/"
	p := s3.NewListObjectsV2Paginator(b.c, &s3.ListObjectsV2Input{Bucket: &b.cfg.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list blobs: %w", mapErr(err))
		}
		for _, o := range page.Contents {
			alg, hex, ok := strings.Cut(strings.TrimPrefix(aws.ToString(o.Key), prefix), "/")
			if !ok {
				continue
			}
			dgst := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
			if dgst.Validate() != nil {
				continue
			}
			if err := fn(backend.BlobInfo{Digest: dgst, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// CleanUploads deletes the chunks of sessions whose newest chunk is older
// than age.
func (b *Blobs) CleanUploads(ctx context.Context, age time.Duration) error {
	prefix := b.cfg.Prefix + "uploads/"
	newest := map[string]time.Time{}
	keys := map[string][]string{}
	p := s3.NewListObjectsV2Paginator(b.c, &s3.ListObjectsV2Input{Bucket: &b.cfg.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list uploads: %w", mapErr(err))
		}
		for _, o := range page.Contents {
			id, _, _ := strings.Cut(strings.TrimPrefix(aws.ToString(o.Key), prefix), "/")
			keys[id] = append(keys[id], aws.ToString(o.Key))
			if t := aws.ToTime(o.LastModified); t.After(newest[id]) {
				newest[id] = t
			}
		}
	}
	var drop []string
	for id, t := range newest {
		if time.Since(t) >= age {
			drop = append(drop, keys[id]...)
		}
	}
	return b.deleteKeys(ctx, drop)
}

// deleteKeys removes keys in batches of 1,000 (DeleteObjects' limit).
func (b *Blobs) deleteKeys(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		objs := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			objs[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		_, err := b.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &b.cfg.Bucket, Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("delete %d objects: %w", n, mapErr(err))
		}
		keys = keys[n:]
	}
	return nil
}

func (b *Blobs) putObject(ctx context.Context, key string, data []byte) error {
	_, err := b.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b.cfg.Bucket, Key: aws.String(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	return mapErr(err)
}

func (b *Blobs) getObject(ctx context.Context, key string) ([]byte, error) {
	out, err := b.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.cfg.Bucket, Key: aws.String(key)})
	if err != nil {
		return nil, mapErr(err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", errdefs.ErrUnavailable, key, err)
	}
	return data, nil
}

func mismatch(want, got digest.Digest, size int64) error {
	return fmt.Errorf("%w: got %s (%d bytes), want %s", errdefs.ErrDataCorrupt, got, size, want)
}

// Put streams r into the blob's key: a blob up to ChunkSize in one
// PutObject after verifying it, a larger one as a multipart upload under
// the final key that is completed only if the digest matches, and aborted
// otherwise.
func (b *Blobs) Put(ctx context.Context, dgst digest.Digest, size int64, r io.Reader) error {
	if err := dgst.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errdefs.ErrInvalidArgument, err)
	}
	h := dgst.Algorithm().Hash()
	check := func(n int64) error {
		if got := digest.NewDigest(dgst.Algorithm(), h); got != dgst || (size >= 0 && n != size) {
			return mismatch(dgst, got, n)
		}
		return nil
	}
	if _, err := b.Stat(ctx, dgst); err == nil {
		// Already stored: verify what was sent all the same.
		n, err := io.Copy(h, r)
		if err != nil {
			return err
		}
		if err := check(n); err != nil {
			return err
		}
		return fmt.Errorf("blob %s: %w", dgst, errdefs.ErrAlreadyExists)
	} else if !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	buf := make([]byte, ChunkSize)
	n, err := io.ReadFull(r, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return err
	}
	h.Write(buf[:n])
	if n < ChunkSize {
		if err := check(int64(n)); err != nil {
			return err
		}
		if err := b.putObject(ctx, b.blobKey(dgst), buf[:n]); err != nil {
			return fmt.Errorf("store blob %s: %w", dgst, err)
		}
		return nil
	}
	mp, err := b.startMultipart(ctx, b.blobKey(dgst))
	if err != nil {
		return err
	}
	total := int64(n)
	if err := mp.part(ctx, buf[:n]); err != nil {
		return mp.abort(err)
	}
	for {
		n, err := io.ReadFull(r, buf)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return mp.abort(err)
		}
		if n == 0 {
			break
		}
		h.Write(buf[:n])
		total += int64(n)
		if err := mp.part(ctx, buf[:n]); err != nil {
			return mp.abort(err)
		}
		if n < ChunkSize {
			break
		}
	}
	if err := check(total); err != nil {
		return mp.abort(err)
	}
	return mp.complete(ctx)
}

// multipart is one multipart upload under a blob's final key.
type multipart struct {
	b     *Blobs
	key   string
	id    *string
	parts []types.CompletedPart
}

func (b *Blobs) startMultipart(ctx context.Context, key string) (*multipart, error) {
	out, err := b.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.cfg.Bucket, Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("start multipart upload of %s: %w", key, mapErr(err))
	}
	return &multipart{b: b, key: key, id: out.UploadId}, nil
}

func (m *multipart) part(ctx context.Context, data []byte) error {
	n := int32(len(m.parts) + 1)
	out, err := m.b.c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &m.b.cfg.Bucket, Key: aws.String(m.key), UploadId: m.id, PartNumber: aws.Int32(n),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return fmt.Errorf("upload part %d of %s: %w", n, m.key, mapErr(err))
	}
	m.parts = append(m.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	return nil
}

func (m *multipart) copyPart(ctx context.Context, srcKey string) error {
	n := int32(len(m.parts) + 1)
	out, err := m.b.c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
		Bucket: &m.b.cfg.Bucket, Key: aws.String(m.key), UploadId: m.id, PartNumber: aws.Int32(n),
		CopySource: aws.String(copySource(m.b.cfg.Bucket, srcKey)),
	})
	if err != nil {
		return fmt.Errorf("copy part %d of %s from %s: %w", n, m.key, srcKey, mapErr(err))
	}
	m.parts = append(m.parts, types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(n)})
	return nil
}

func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return url.PathEscape(bucket) + "/" + strings.Join(segs, "/")
}

func (m *multipart) complete(ctx context.Context) error {
	_, err := m.b.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &m.b.cfg.Bucket, Key: aws.String(m.key), UploadId: m.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: m.parts},
	})
	if err != nil {
		return m.abort(fmt.Errorf("complete %s: %w", m.key, mapErr(err)))
	}
	return nil
}

// abort drops the multipart upload (its parts) and returns err.
func (m *multipart) abort(err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = m.b.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &m.b.cfg.Bucket, Key: aws.String(m.key), UploadId: m.id})
	return err
}

// state is an upload session as Writer.State returns it.
type state struct {
	Alg    digest.Algorithm `json:"alg"`
	Offset int64            `json:"offset"`
	Hash   []byte           `json:"hash"`
	Chunks []int64          `json:"chunks"` // sizes of chunk objects 0..n-1
}

func newHash(alg digest.Algorithm, saved []byte) (hash.Hash, error) {
	if !alg.Available() {
		return nil, fmt.Errorf("%w: digest algorithm %q", errdefs.ErrInvalidArgument, alg)
	}
	h := alg.Hash()
	if saved != nil {
		u, ok := h.(encoding.BinaryUnmarshaler)
		if !ok {
			return nil, fmt.Errorf("%w: %s hash state cannot be resumed", errdefs.ErrInvalidArgument, alg)
		}
		if err := u.UnmarshalBinary(saved); err != nil {
			return nil, fmt.Errorf("%w: upload state: %v", errdefs.ErrDataCorrupt, err)
		}
	}
	return h, nil
}

// Writer resumes (or starts) session id. When alg differs from the
// algorithm the session was hashed with, the chunks are read back and
// hashed again.
func (b *Blobs) Writer(ctx context.Context, id string, alg digest.Algorithm, saved []byte) (backend.Writer, error) {
	w := &writer{b: b, id: id, st: state{Alg: alg}}
	if saved != nil {
		if err := json.Unmarshal(saved, &w.st); err != nil {
			return nil, fmt.Errorf("%w: upload %s state: %v", errdefs.ErrDataCorrupt, id, err)
		}
	}
	var err error
	if w.st.Alg == alg {
		if w.h, err = newHash(alg, w.st.Hash); err != nil {
			return nil, err
		}
		return w, nil
	}
	if w.h, err = newHash(alg, nil); err != nil {
		return nil, err
	}
	for i := range w.st.Chunks {
		data, err := b.getObject(ctx, b.chunkKey(id, i))
		if err != nil {
			return nil, fmt.Errorf("upload %s: rehash chunk %d: %w", id, i, err)
		}
		w.h.Write(data)
	}
	w.st.Alg = alg
	return w, nil
}

type writer struct {
	b   *Blobs
	id  string
	st  state
	h   hash.Hash
	buf []byte // written, not yet in a chunk object
}

func (w *writer) Offset() int64 { return w.st.Offset }

func (w *writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:n]...)
		if len(w.buf) == ChunkSize {
			if err := w.flush(context.TODO()); err != nil {
				w.buf = w.buf[:len(w.buf)-n]
				return written, err
			}
		}
		w.h.Write(p[:n])
		w.st.Offset += int64(n)
		written += n
		p = p[n:]
	}
	return written, nil
}

// flush writes the buffer as the next chunk object.
func (w *writer) flush(ctx context.Context) error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.b.putObject(ctx, w.b.chunkKey(w.id, len(w.st.Chunks)), w.buf); err != nil {
		return fmt.Errorf("upload %s: store chunk %d: %w", w.id, len(w.st.Chunks), err)
	}
	w.st.Chunks = append(w.st.Chunks, int64(len(w.buf)))
	w.buf = w.buf[:0]
	return nil
}

func (w *writer) State(ctx context.Context) ([]byte, error) {
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	m, ok := w.h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, fmt.Errorf("%w: %s hash state cannot be saved", errdefs.ErrInvalidArgument, w.st.Alg)
	}
	hs, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	w.st.Hash = hs
	return json.Marshal(w.st)
}

func (w *writer) Close() error {
	w.buf = nil
	return nil
}

func (w *writer) chunkKeys() []string {
	keys := make([]string, len(w.st.Chunks))
	for i := range keys {
		keys[i] = w.b.chunkKey(w.id, i)
	}
	return keys
}

func (w *writer) Abort(ctx context.Context) error {
	w.buf = nil
	// Chunks past the saved list may exist (a request that failed after
	// storing them): delete by listing the session's prefix.
	prefix := w.b.uploadPrefix(w.id)
	var keys []string
	p := s3.NewListObjectsV2Paginator(w.b.c, &s3.ListObjectsV2Input{Bucket: &w.b.cfg.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("upload %s: list chunks: %w", w.id, mapErr(err))
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return w.b.deleteKeys(ctx, keys)
}

func (w *writer) Commit(ctx context.Context, dgst digest.Digest) error {
	if dgst.Algorithm() != w.st.Alg {
		return fmt.Errorf("%w: upload hashed with %s, digest is %s", errdefs.ErrInvalidArgument, w.st.Alg, dgst)
	}
	if got := digest.NewDigest(w.st.Alg, w.h); got != dgst {
		_ = w.Abort(ctx)
		return mismatch(dgst, got, w.st.Offset)
	}
	key := w.b.blobKey(dgst)
	if _, err := w.b.Stat(ctx, dgst); err == nil {
		_ = w.Abort(ctx)
		return fmt.Errorf("blob %s: %w", dgst, errdefs.ErrAlreadyExists)
	} else if !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	if w.st.Offset <= ChunkSize {
		data := make([]byte, 0, w.st.Offset)
		for i := range w.st.Chunks {
			c, err := w.b.getObject(ctx, w.b.chunkKey(w.id, i))
			if err != nil {
				return fmt.Errorf("upload %s: chunk %d: %w", w.id, i, err)
			}
			data = append(data, c...)
		}
		data = append(data, w.buf...)
		if int64(len(data)) != w.st.Offset {
			return fmt.Errorf("%w: upload %s: chunks hold %d bytes, session %d", errdefs.ErrDataCorrupt, w.id, len(data), w.st.Offset)
		}
		if err := w.b.putObject(ctx, key, data); err != nil {
			return fmt.Errorf("store blob %s: %w", dgst, err)
		}
	} else if err := w.assemble(ctx, key); err != nil {
		return err
	}
	w.buf = nil
	// The chunks are garbage now; CleanUploads gets any this misses.
	_ = w.b.deleteKeys(ctx, w.chunkKeys())
	return nil
}

// assemble builds the blob under key from the chunks (and the buffer):
// large chunks are copied server-side as parts, runs of small ones are read
// back and sent as parts of at least minPart bytes.
func (w *writer) assemble(ctx context.Context, key string) error {
	mp, err := w.b.startMultipart(ctx, key)
	if err != nil {
		return err
	}
	var pending []byte
	for i, size := range w.st.Chunks {
		ck := w.b.chunkKey(w.id, i)
		if len(pending) == 0 && size >= minPart {
			if err := mp.copyPart(ctx, ck); err != nil {
				return mp.abort(err)
			}
			continue
		}
		c, err := w.b.getObject(ctx, ck)
		if err != nil {
			return mp.abort(fmt.Errorf("upload %s: chunk %d: %w", w.id, i, err))
		}
		pending = append(pending, c...)
		if len(pending) >= minPart {
			if err := mp.part(ctx, pending); err != nil {
				return mp.abort(err)
			}
			pending = nil
		}
	}
	pending = append(pending, w.buf...)
	if len(pending) > 0 {
		if err := mp.part(ctx, pending); err != nil {
			return mp.abort(err)
		}
	}
	return mp.complete(ctx)
}

// blobReader reads a blob with ranged GETs: a Seek drops the current body
// and the next Read asks for the rest from the new offset.
type blobReader struct {
	b    *Blobs
	ctx  context.Context
	key  string
	size int64
	off  int64
	body io.ReadCloser
}

// Open returns a seeking reader of the blob; Stat checks that it exists.
func (b *Blobs) Open(ctx context.Context, dgst digest.Digest) (backend.Blob, error) {
	info, err := b.Stat(ctx, dgst)
	if err != nil {
		return nil, err
	}
	return &blobReader{b: b, ctx: ctx, key: b.blobKey(dgst), size: info.Size}, nil
}

func (r *blobReader) Size() int64 { return r.size }

func (r *blobReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		out, err := r.b.c.GetObject(r.ctx, &s3.GetObjectInput{
			Bucket: &r.b.cfg.Bucket, Key: aws.String(r.key), Range: aws.String(fmt.Sprintf("bytes=%d-", r.off)),
		})
		if err != nil {
			return 0, mapErr(err)
		}
		r.body = out.Body
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	if err == io.EOF && r.off < r.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *blobReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.size + offset
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek to %d: negative offset", abs)
	}
	if abs != r.off && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.off = abs
	return abs, nil
}

func (r *blobReader) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}
