package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/testutil"
)

// TestDiskFull puts the store on a 1 MiB tmpfs: a push that does not fit
// gets a clear 507, leaves nothing behind, and a small push still works.
func TestDiskFull(t *testing.T) {
	testutil.RequiresRoot(t) // mounting a tmpfs
	dir := t.TempDir()
	mnt := filepath.Join(dir, "small")
	if err := unix.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	store, err := content.Open(filepath.Join(mnt, "content"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(store, filepath.Join(dir, "registry"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); g.Close() })

	big := randomBytes(t, 2<<20)
	for _, style := range []string{"monolithic", "session"} {
		t.Run(style, func(t *testing.T) {
			var r resp
			if style == "monolithic" {
				r = do(t, srv, req{method: "POST", path: "/v2/app/blobs/uploads/?digest=" + digestOf(big), body: big})
			} else {
				loc := startSession(t, srv, "app")
				r = do(t, srv, req{method: "PATCH", path: loc, body: big})
				do(t, srv, req{method: "DELETE", path: loc})
			}
			if r.status != http.StatusInsufficientStorage {
				t.Fatalf("status %d, want 507: %s", r.status, r.body)
			}
			if b := storeBlobs(t, g); len(b) != 0 {
				t.Fatalf("blobs after a full disk: %v", b)
			}
		})
	}
	if ins, _ := store.Ingests(context.Background()); len(ins) != 0 {
		t.Errorf("ingests left: %+v", ins)
	}
	pushBlob(t, srv, "app", []byte("small enough"))
	if err := g.Fsck(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}
