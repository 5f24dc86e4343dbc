// Package htpasswd checks HTTP Basic credentials against an htpasswd file
// of bcrypt hashes, as `htpasswd -B` writes them.
//
// The file is re-read when its size, modification time or inode changes
// (looked at no more than once a second),
// so editing it takes effect without a restart; a file that fails to parse
// after an edit keeps the previous entries in force until it parses again.
// Unknown users are checked against a dummy hash of the same cost, so the
// time of a failure does not tell whether the user exists. Verified
// credentials are remembered briefly so that bcrypt (tens of ms at cost 10)
// is not paid on every request of a pull; the cache key is the SHA-256 of
// user, password and stored hash, so a changed password or a removed user
// is never served from it, and the cache holds no plaintext.
package htpasswd

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Entry is one user of an htpasswd file.
type Entry struct {
	User string
	Hash []byte // a bcrypt hash: $2a$, $2b$ or $2y$
}

// Parse reads htpasswd lines "user:hash". Blank lines and lines starting
// with # are skipped. Every hash must be bcrypt; a user may appear once.
// Errors name the line.
func Parse(r io.Reader) ([]Entry, error) {
	var out []Entry
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		e, ok, err := ParseLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("htpasswd line %d: %w", n, err)
		}
		if !ok {
			continue
		}
		if seen[e.User] {
			return nil, fmt.Errorf("htpasswd line %d: user %q appears twice", n, e.User)
		}
		seen[e.User] = true
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	return out, nil
}

// ParseLine parses one line. ok is false for a blank or comment line.
func ParseLine(line string) (e Entry, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return Entry{}, false, nil
	}
	user, hash, found := strings.Cut(line, ":")
	if !found {
		return Entry{}, false, errors.New("no ':' between user and hash")
	}
	if user == "" || strings.ContainsFunc(user, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return Entry{}, false, fmt.Errorf("invalid user name %q", user)
	}
	if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
		return Entry{}, false, fmt.Errorf("user %q: only bcrypt hashes are supported (htpasswd -B)", user)
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil || len(hash) != 60 {
		return Entry{}, false, fmt.Errorf("user %q: malformed bcrypt hash", user)
	}
	return Entry{User: user, Hash: []byte(hash)}, true, nil
}

// File is an htpasswd file in use. It is safe for concurrent use.
type File struct {
	path string

	mu    sync.RWMutex
	stamp fileStamp
	users map[string][]byte
	dummy []byte
	cache map[[32]byte]time.Time
	now   func() time.Time

	// recheck is how often the file is stat'ed for changes (a stat per
	// request would be a syscall on every request of a pull).
	recheck time.Duration
	checked atomic.Int64 // unix ns of the last stat
}

type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

// Cache bounds: at most cacheMax verified credentials, each for cacheTTL.
const (
	cacheMax = 1024
	cacheTTL = time.Minute
)

// Open reads the file at path; it must exist and parse.
func Open(path string) (*File, error) {
	f := &File{path: path, cache: map[[32]byte]time.Time{}, now: time.Now, recheck: time.Second}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

func stat(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}

// reload re-reads the file if it changed since the last read.
func (f *File) reload() error {
	st, err := stat(f.path)
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	f.mu.RLock()
	same := f.users != nil && st == f.stamp
	f.mu.RUnlock()
	if same {
		return nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	entries, err := Parse(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	users := make(map[string][]byte, len(entries))
	cost := bcrypt.DefaultCost
	for i, e := range entries {
		users[e.User] = e.Hash
		if i == 0 {
			cost, _ = bcrypt.Cost(e.Hash)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users, f.stamp = users, st
	if c, err := bcrypt.Cost(f.dummy); err != nil || c != cost {
		pw := make([]byte, 16)
		_, _ = rand.Read(pw)
		f.dummy, _ = bcrypt.GenerateFromPassword(pw, cost)
	}
	clear(f.cache)
	return nil
}

// Authenticate reports whether password is user's. It re-reads the file
// first if it changed, checking at most once a second (a failing re-read
// keeps the previous entries).
func (f *File) Authenticate(user, password string) bool {
	if now := f.now().UnixNano(); now-f.checked.Load() >= int64(f.recheck) {
		f.checked.Store(now)
		_ = f.reload()
	}
	f.mu.RLock()
	hash, known := f.users[user]
	dummy := f.dummy
	f.mu.RUnlock()
	if !known {
		_ = bcrypt.CompareHashAndPassword(dummy, []byte(password))
		return false
	}
	key := cacheKey(user, password, hash)
	now := f.now()
	f.mu.RLock()
	exp, hit := f.cache[key]
	f.mu.RUnlock()
	if hit && now.Before(exp) {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	f.mu.Lock()
	if len(f.cache) >= cacheMax {
		for k, e := range f.cache {
			if !now.Before(e) {
				delete(f.cache, k)
			}
		}
		if len(f.cache) >= cacheMax {
			clear(f.cache)
		}
	}
	f.cache[key] = now.Add(cacheTTL)
	f.mu.Unlock()
	return true
}

func cacheKey(user, password string, hash []byte) [32]byte {
	h := sha256.New()
	// Lengths first, so no two (user, password) pairs share an encoding.
	fmt.Fprintf(h, "%d:%s%d:%s", len(user), user, len(password), password)
	h.Write(hash)
	var k [32]byte
	h.Sum(k[:0])
	return k
}
