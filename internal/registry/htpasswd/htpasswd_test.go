package htpasswd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

func hash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), 5)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParse(t *testing.T) {
	h := hash(t, "pw")
	tests := []struct {
		name, in string
		want     []string // users
		err      string
	}{
		{"empty", "", nil, ""},
		{"comments and blanks", "# users\n\n  alice:" + h + "  \n", []string{"alice"}, ""},
		{"two", "alice:" + h + "\nbob:" + h + "\n", []string{"alice", "bob"}, ""},
		{"crlf", "alice:" + h + "\r\n", []string{"alice"}, ""},
		{"no colon", "alice\n", nil, "line 1: no ':'"},
		{"md5", "alice:$apr1$abc$def\n", nil, "only bcrypt"},
		{"sha", "alice:{SHA}xyz\n", nil, "only bcrypt"},
		{"truncated bcrypt", "alice:" + h[:30] + "\n", nil, "malformed bcrypt"},
		{"empty user", ":" + h + "\n", nil, "invalid user"},
		{"duplicate", "a:" + h + "\na:" + h + "\n", nil, "line 2: user \"a\" appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, err := Parse(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var users []string
			for _, e := range es {
				users = append(users, e.User)
			}
			if diff := cmp.Diff(tt.want, users); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// FuzzParseLine: an accepted line yields a user with no ':' or whitespace
// and a 60-byte bcrypt hash, and formatting the entry back parses to the
// same entry.
func FuzzParseLine(f *testing.F) {
	f.Add("alice:$2y$05$0123456789012345678901uabcdefghijklmnopqrstuvwxyzABCDE")
	f.Add("# comment")
	f.Add("bob:$apr1$x$y")
	f.Add("  carol:$2a$10$abcdefghijklmnopqrstuv0123456789012345678901234567890  ")
	f.Fuzz(func(t *testing.T, line string) {
		e, ok, err := ParseLine(line)
		if err != nil || !ok {
			return
		}
		if e.User == "" || strings.ContainsAny(e.User, ": \t\r\n") {
			t.Fatalf("user %q accepted", e.User)
		}
		if len(e.Hash) != 60 || !strings.HasPrefix(string(e.Hash), "$2") {
			t.Fatalf("hash %q accepted", e.Hash)
		}
		again, ok, err := ParseLine(e.User + ":" + string(e.Hash))
		if err != nil || !ok {
			t.Fatalf("round trip: %v", err)
		}
		if diff := cmp.Diff(e, again); diff != "" {
			t.Fatalf("round trip (-first +second)\n%s", diff)
		}
	})
}

func writeFile(t testing.TB, path string, users map[string]string) {
	t.Helper()
	var b strings.Builder
	for u, p := range users {
		fmt.Fprintf(&b, "%s:%s\n", u, hash(t, p))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticateAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeFile(t, path, map[string]string{"alice": "one"})
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.recheck = 0 // look at the file on every call
	check := func(user, pw string, want bool) {
		t.Helper()
		if got := f.Authenticate(user, pw); got != want {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", user, pw, got, want)
		}
	}
	check("alice", "one", true)
	check("alice", "one", true) // from the cache
	check("alice", "two", false)
	check("bob", "one", false)
	check("", "", false)

	// A new password (and a new user) take effect without a restart; the
	// cached old password does not survive the change.
	writeFile(t, path, map[string]string{"alice": "two", "bob": "three"})
	future := time.Now().Add(time.Second)
	os.Chtimes(path, future, future) // same size within one mtime tick otherwise
	check("alice", "one", false)
	check("alice", "two", true)
	check("bob", "three", true)

	// A broken edit keeps the last good entries.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("alice", "two", true)
	// Removing a user works even while their credentials are cached.
	writeFile(t, path, map[string]string{"bob": "three"})
	os.Chtimes(path, future.Add(time.Second), future.Add(time.Second))
	check("alice", "two", false)
}

func TestCacheExpiresAndIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeFile(t, path, map[string]string{"alice": "one"})
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	f.now = func() time.Time { return now }
	if !f.Authenticate("alice", "one") {
		t.Fatal("auth failed")
	}
	if len(f.cache) != 1 {
		t.Fatalf("cache holds %d", len(f.cache))
	}
	for k := range f.cache {
		if got := f.cache[k].Sub(now); got != cacheTTL {
			t.Errorf("TTL %v", got)
		}
	}
	// Fill the cache past its bound with expired entries: they go first.
	for i := range cacheMax {
		f.cache[cacheKey(fmt.Sprint(i), "", nil)] = now.Add(-time.Second)
	}
	now = now.Add(2 * cacheTTL)
	if !f.Authenticate("alice", "one") {
		t.Fatal("auth failed after expiry")
	}
	if len(f.cache) > cacheMax {
		t.Errorf("cache grew to %d", len(f.cache))
	}
}

func BenchmarkAuthenticateCached(b *testing.B) {
	path := filepath.Join(b.TempDir(), "htpasswd")
	writeFile(b, path, map[string]string{"alice": "one"})
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !f.Authenticate("alice", "one") {
			b.Fatal("auth failed")
		}
	}
}
