package filepool

import (
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Hashes holds the content digests of a snapshot's files as they were
// written (archive.ApplyOptions.FileDigest, as a layer is unpacked), so
// that Dedupe pools them without reading them again. A digest is used
// only for the file at the path it was noted for, and only while that path
// holds the same inode with the same size, mtime and ctime: writing to a
// file moves its mtime and ctime, and a file replaced is another inode (or,
// if its number is reused, one written later with a ctime of its own), so
// a file changed after it was noted is read and hashed by Dedupe as any
// other. (What archive.Apply itself does after writing a file, a hard link
// to it or an entry replacing it, is either skipped by Dedupe, which never
// pools a file with several links, or noted anew.) Its methods are safe
// for concurrent use.
type Hashes struct {
	mu sync.Mutex
	m  map[string]noted // by path, relative to the snapshot's directory
}

type noted struct {
	ino        uint64
	size       int64
	mtim, ctim unix.Timespec
	dgst       digest.Digest
	// key is the file's pool key if Live pooled it as it was noted (the
	// pass skips it), else "".
	key string
}

// NewHashes returns an empty set.
func NewHashes() *Hashes { return &Hashes{m: map[string]noted{}} }

// Note records that the file at rel (a clean path relative to the
// snapshot's directory), whose lstat is st, has content dgst.
func (h *Hashes) Note(rel string, st *unix.Stat_t, dgst digest.Digest) {
	h.note(rel, st, dgst, "")
}

// note is Note for a file pooled under key as it was noted, or not ("").
func (h *Hashes) note(rel string, st *unix.Stat_t, dgst digest.Digest, key string) {
	h.mu.Lock()
	h.m[rel] = noted{ino: st.Ino, size: st.Size, mtim: st.Mtim, ctim: st.Ctim, dgst: dgst, key: key}
	h.mu.Unlock()
}

// unpool takes the mark of a file pooled as it was noted away (Live.
// Unshare) and returns its key, or "" if it was not.
func (h *Hashes) unpool(rel string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.m[rel]
	if !ok || n.key == "" {
		return ""
	}
	k := n.key
	n.key = ""
	h.m[rel] = n
	return k
}

// Len is the number of files noted.
func (h *Hashes) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}

// digest returns the content digest noted for the file at rel with stat
// st, if the file is unchanged since.
func (h *Hashes) digest(rel string, st *unix.Stat_t) (digest.Digest, bool) {
	if h == nil {
		return "", false
	}
	h.mu.Lock()
	n, ok := h.m[rel]
	h.mu.Unlock()
	if !ok || n.ino != st.Ino || n.size != st.Size || n.mtim != st.Mtim || n.ctim != st.Ctim {
		return "", false
	}
	return n.dgst, true
}
