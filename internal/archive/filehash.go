package archive

import (
	"crypto/sha256"
	"hash"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// fileHasher hashes the content of the regular files Apply writes
// (ApplyOptions.FileDigest) on a goroutine of its own, so that the hashing
// overlaps the unpacking instead of adding to it. The unpacker reads each
// file's content into the current buffer, after the files before it,
// writes it from there, and notes where it lies; once the file's metadata
// is set it notes the file's end (its path and stat). A buffer goes to the
// hasher when it is full, with what was noted of it, so that a layer of
// thousands of small files is handed over a megabyte at a time, not file
// by file; the hasher hashes each file's pieces in order and calls
// FileDigest at each end. A buffer is reused only once it has been hashed,
// so at most hashBuffers×copyBufSize bytes are held, whatever the layer's
// size.
type fileHasher struct {
	free chan *hashBatch // batches the hasher is done with
	work chan *hashBatch // full batches, in the order written
	done chan struct{}
	emit func(rel string, st *unix.Stat_t, dgst digest.Digest)
	// newHash makes the hash and names its algorithm (ApplyOptions.FileHash)
	newHash func() (digest.Algorithm, hash.Hash)
	cur     *hashBatch // being filled, nil until the first file
}

const (
	// copyBufSize is the size of the buffers Apply writes files from: a
	// big one, not io.Copy's 32 KiB through os.File.ReadFrom, since a
	// layer of big files is otherwise tens of thousands of write calls.
	copyBufSize = 1 << 20
	hashBuffers = 4
	// hashMinRead is the least room worth reading into: with less left,
	// the buffer is handed over and the next one filled.
	hashMinRead = 64 << 10
)

// hashBatch is a buffer and what the unpacker noted of it.
type hashBatch struct {
	buf  []byte
	used int
	jobs []hashJob
}

// hashJob is a piece of the current file's content (buf[from:to]), or,
// with end, the file's end: its path and stat.
type hashJob struct {
	from, to int
	end      bool
	rel      string
	st       unix.Stat_t
	known    digest.Digest // with end: the file's digest, taken already
}

func newFileHasher(emit func(string, *unix.Stat_t, digest.Digest), newHash func() (digest.Algorithm, hash.Hash)) *fileHasher {
	if newHash == nil {
		newHash = func() (digest.Algorithm, hash.Hash) { return digest.SHA256, sha256.New() }
	}
	h := &fileHasher{
		newHash: newHash,
		free:    make(chan *hashBatch, hashBuffers),
		work:    make(chan *hashBatch, hashBuffers),
		done:    make(chan struct{}),
		emit:    emit,
	}
	for range hashBuffers {
		h.free <- &hashBatch{buf: make([]byte, copyBufSize)}
	}
	go h.run()
	return h
}

func (h *fileHasher) run() {
	defer close(h.done)
	alg, sum := h.newHash()
	for b := range h.work {
		for i := range b.jobs {
			j := &b.jobs[i]
			if !j.end {
				sum.Write(b.buf[j.from:j.to])
				continue
			}
			if j.known != "" {
				h.emit(j.rel, &j.st, j.known)
				continue
			}
			h.emit(j.rel, &j.st, digest.NewDigest(alg, sum))
			sum.Reset()
		}
		b.used, b.jobs = 0, b.jobs[:0]
		h.free <- b
	}
}

// batch returns the batch to read into, handing the current one over if
// it has too little room left.
func (h *fileHasher) batch() *hashBatch {
	if h.cur != nil && len(h.cur.buf)-h.cur.used < hashMinRead {
		h.work <- h.cur
		h.cur = nil
	}
	if h.cur == nil {
		h.cur = <-h.free
	}
	return h.cur
}

// copy writes r (a file's content) to f, noting each piece for the
// hasher. After an error the file is not ended: Apply fails, and what was
// noted of it is hashed into nothing reported.
func (h *fileHasher) copy(f *os.File, r io.Reader) (int64, error) {
	var n int64
	for {
		b := h.batch()
		m, err := r.Read(b.buf[b.used:])
		if m > 0 {
			if _, werr := f.Write(b.buf[b.used : b.used+m]); werr != nil {
				return n, werr
			}
			b.jobs = append(b.jobs, hashJob{from: b.used, to: b.used + m})
			b.used += m
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// end says a file is whole, at rel with stat st: the one whose content
// was copied last, or, with known set, one whose content was not copied
// here and whose digest is known. It is reported in its turn, after the
// files ended before it.
func (h *fileHasher) end(rel string, st *unix.Stat_t, known digest.Digest) {
	b := h.cur
	if b == nil {
		b = h.batch() // the first file, an empty one or one not copied here
	}
	b.jobs = append(b.jobs, hashJob{end: true, rel: rel, st: *st, known: known})
}

// flush hands over what is left and waits until every file ended has
// been reported to FileDigest: the hasher is idle once it has given every
// buffer back. Nothing is pending, and it returns at once, when the
// current buffer holds nothing and every other is free.
func (h *fileHasher) flush() {
	if h.cur != nil && len(h.cur.jobs) == 0 && len(h.free) == hashBuffers-1 {
		return
	}
	if h.cur != nil {
		h.work <- h.cur
		h.cur = nil
	}
	var idle [hashBuffers]*hashBatch
	for i := range idle {
		idle[i] = <-h.free
	}
	for _, b := range idle {
		h.free <- b
	}
}

// close hands over what is left and waits until every file ended has
// been reported to FileDigest.
func (h *fileHasher) close() {
	if h.cur != nil {
		h.work <- h.cur
		h.cur = nil
	}
	close(h.work)
	<-h.done
}
