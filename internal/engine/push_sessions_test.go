package engine_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/registry"
	"github.com/strata-project/strata/internal/remote"
)

// sessionFiles lists the files of a push-sessions directory.
func sessionFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestPushForgetsSessionsOfCutPushes: a push cut short leaves its upload
// session for the next push to resume; when the blob reaches the
// repository another way (here a push keeping its sessions elsewhere), the
// next push finds it there and the session is cancelled on the registry and its file
// removed, instead of staying for ever.
func TestPushForgetsSessionsOfCutPushes(t *testing.T) {
	var failPatch atomic.Bool
	var deletes atomic.Int32
	host := rtRegistry(t, registry.Options{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch && failPatch.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			if r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/blobs/uploads/") {
				deletes.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx := context.Background()
	ref := host + "/app/cut:v1"
	src := rtEngine(t)
	rtImport(t, src, ref, map[string][]byte{"data": randomBytes(1 << 20)})
	sessions := t.TempDir()

	failPatch.Store(true)
	if _, err := src.Push(ctx, ref, engine.PushOptions{Client: rtClient(sessions)}); err == nil {
		t.Fatal("push through a registry refusing every chunk succeeded")
	}
	if n := len(sessionFiles(t, sessions)); n != 1 {
		t.Fatalf("the cut push left %d session files, want the layer's 1", n)
	}

	// The image reaches the registry another way: a push that does not
	// know that session (another machine's, say).
	failPatch.Store(false)
	if _, err := src.Push(ctx, ref, engine.PushOptions{Client: rtClient(t.TempDir())}); err != nil {
		t.Fatal(err)
	}

	var log rtLog
	if _, err := src.Push(ctx, ref, engine.PushOptions{Progress: log.report, Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	if log.count(": Layer already exists") != 1 {
		t.Errorf("push output:\n%s", log.String())
	}
	if left := sessionFiles(t, sessions); len(left) != 0 {
		t.Errorf("after a push that succeeded, session files %v remain", left)
	}
	if deletes.Load() != 1 {
		t.Errorf("the stale session was cancelled on the registry %d times, want once", deletes.Load())
	}
}

// TestGCRemovesStalePushSessions: garbage collection (system prune)
// removes push sessions older than a day and keeps younger ones, which a
// push may still resume.
func TestGCRemovesStalePushSessions(t *testing.T) {
	ctx := context.Background()
	e := rtEngine(t)
	dir := filepath.Join(e.Root(), "push-sessions")
	sessions := remote.DirSessions(dir)
	sessions.Save("127.0.0.1:5000/app@sha256:young", "http://127.0.0.1:5000/v2/app/blobs/uploads/young")
	sessions.Save("127.0.0.1:5000/app@sha256:old", "http://127.0.0.1:5000/v2/app/blobs/uploads/old")
	// and a half-written one a killed push left
	if err := os.WriteFile(filepath.Join(dir, "0123456789abcdef.tmp"), []byte("127.0.0.1:5000/app@sha256:x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-25 * time.Hour)
	for _, name := range sessionFiles(t, dir) {
		if strings.HasSuffix(name, ".tmp") || isSession(dir, name, "127.0.0.1:5000/app@sha256:old") {
			if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
				t.Fatal(err)
			}
		}
	}

	rep, err := e.GC(ctx, engine.GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PushSessions != 0 || len(sessionFiles(t, dir)) != 3 {
		t.Errorf("a dry run removed %d push sessions", rep.PushSessions)
	}
	rep, err = e.GC(ctx, engine.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PushSessions != 2 {
		t.Errorf("gc removed %d push sessions, want the old one and the half-written one", rep.PushSessions)
	}
	if sessions.Load("127.0.0.1:5000/app@sha256:young") == "" {
		t.Error("gc removed a push session younger than a day")
	}
	if left := sessionFiles(t, dir); len(left) != 1 {
		t.Errorf("session files left: %v", left)
	}
}

// isSession reports whether file name in dir holds the session of key.
func isSession(dir, name, key string) bool {
	b, err := os.ReadFile(filepath.Join(dir, name))
	return err == nil && strings.HasPrefix(string(b), key+"\n")
}
