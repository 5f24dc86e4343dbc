package archive

import (
	"crypto/sha256"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// fileHasher hashes the content of the regular files Apply writes
// (ApplyOptions.FileDigest) on a goroutine of its own, so that the hashing
// overlaps the unpacking instead of adding to it: the unpacker reads a
// chunk of a file into one of a few buffers, writes it and hands it over,
// then goes on with the next chunk or the next entry while the chunk is
// hashed; once a file's metadata is set it hands over the file's path and
// stat, and the hasher calls FileDigest with them and the digest. A
// buffer is reused only once it has been hashed, so at most
// hashBuffers×hashBufSize bytes are held, whatever the layer's size.
type fileHasher struct {
	free chan []byte  // buffers the hasher is done with
	work chan hashJob // in the order written
	done chan struct{}
	emit func(rel string, st *unix.Stat_t, dgst digest.Digest)
}

const (
	hashBuffers = 4
	// hashBufSize is the unpacker's buffer size (a big one: a layer of big
	// files is otherwise tens of thousands of write calls).
	hashBufSize = 1 << 20
)

// hashJob is a chunk of the current file's content (data), or the end of
// the file (its path and stat).
type hashJob struct {
	data []byte
	rel  string
	st   unix.Stat_t
}

func newFileHasher(emit func(string, *unix.Stat_t, digest.Digest)) *fileHasher {
	h := &fileHasher{
		free: make(chan []byte, hashBuffers),
		work: make(chan hashJob, 2*hashBuffers),
		done: make(chan struct{}),
		emit: emit,
	}
	for range hashBuffers {
		h.free <- make([]byte, hashBufSize)
	}
	go h.run()
	return h
}

func (h *fileHasher) run() {
	defer close(h.done)
	sum := sha256.New()
	for j := range h.work {
		if j.data != nil {
			sum.Write(j.data)
			h.free <- j.data[:cap(j.data)]
			continue
		}
		h.emit(j.rel, &j.st, digest.NewDigest(digest.SHA256, sum))
		sum.Reset()
	}
}

// copy writes r (a file's content) to f, handing each chunk to the hasher.
// After an error the file is not ended: Apply fails, and close drops it.
func (h *fileHasher) copy(f *os.File, r io.Reader) (int64, error) {
	var n int64
	for {
		buf := <-h.free
		m, err := r.Read(buf)
		if m > 0 {
			if _, werr := f.Write(buf[:m]); werr != nil {
				h.free <- buf
				return n, werr
			}
			h.work <- hashJob{data: buf[:m]}
			n += int64(m)
		} else {
			h.free <- buf
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// end says the file whose content was copied last is whole, at rel with
// stat st.
func (h *fileHasher) end(rel string, st *unix.Stat_t) {
	h.work <- hashJob{rel: rel, st: *st}
}

// close waits until every file ended has been reported to FileDigest.
func (h *fileHasher) close() {
	close(h.work)
	<-h.done
}
