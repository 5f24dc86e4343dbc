// Package s3blobs keeps registry blobs (backend.Blobs) in any
// S3-compatible object store: AWS S3, Ceph RGW, MinIO, SeaweedFS,
// versitygw. It speaks plain S3 through github.com/aws/aws-sdk-go-v2 (the
// maintained SDK; path-style or virtual-host addressing, a key prefix) and
// relies on nothing beyond PutObject, GetObject with Range, HeadObject,
// ListObjectsV2, DeleteObject(s) and multipart uploads with UploadPartCopy.
//
// Layout under the configured prefix:
//
//	<prefix>blobs/<alg>/<hex>          every blob, once, written only after verification
//	<prefix>uploads/<id>/<00000000>    the chunks of an upload session, in order
//
// An upload session is a list of chunk objects plus the state of its hash
// (encoding.BinaryMarshaler of crypto/sha256, as Quay keeps it), returned by
// Writer.State for the registry to store in its shared metadata: any
// replica resumes it. Writes are buffered into chunks of up to ChunkSize;
// the end of each request flushes the rest as a (smaller) chunk.
//
// Commit verifies the digest from the hash state first, then assembles the
// chunks into the blob's key: one PutObject for blobs up to ChunkSize,
// else a multipart upload under the final key whose parts are the chunks
// themselves (UploadPartCopy, a server-side copy, for chunks of at least
// 5 MiB; small chunks are read back and sent as one part). The blob becomes
// visible only at CompleteMultipartUpload, after verification; there is no
// temporary whole-blob object copied once more (as distribution's driver
// does), and the chunks are deleted once it is complete.
package s3blobs
