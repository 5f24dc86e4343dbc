package events

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func collect(t *testing.T, j *Journal, opts ReadOptions) []string {
	t.Helper()
	var got []string
	if err := j.Read(context.Background(), opts, func(m Message) error {
		got = append(got, string(m.Action)+" "+m.Actor.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAppendReadTornAndRotation(t *testing.T) {
	dir := t.TempDir()
	j := Open(dir)
	j.max = 600
	j.Log("container", "create", "c1", map[string]string{"name": "web", "image": "busybox"})
	// A kill -9 mid-write: half a line, no newline.
	f, _ := os.OpenFile(filepath.Join(dir, currentFile), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"Type":"container","Action":"sta`)
	f.Close()
	j.Log("container", "start", "c1", nil)
	if got := strings.Join(collect(t, j, ReadOptions{}), ","); got != "create c1,start c1" {
		t.Fatalf("after a torn line: %s", got)
	}
	for i := range 10 {
		j.Log("image", "tag", "sha256:x", map[string]string{"name": "app:" + string(rune('a'+i))})
	}
	if _, err := os.Stat(filepath.Join(dir, oldFile)); err != nil {
		t.Fatalf("no rotation past the bound: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(dir, currentFile))
	if fi.Size() > j.max {
		t.Errorf("current file %d bytes, bound %d", fi.Size(), j.max)
	}
	got := collect(t, j, ReadOptions{})
	if len(got) == 0 || got[len(got)-1] != "tag sha256:x" {
		t.Errorf("after rotation: %v", got)
	}
}

func TestFollowSeesLaterEventsAndRotation(t *testing.T) {
	dir := t.TempDir()
	j := Open(dir)
	j.max = 400
	j.Log("container", "create", "old", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 100)
	errc := make(chan error, 1)
	go func() {
		errc <- j.Read(ctx, ReadOptions{Follow: true}, func(m Message) error {
			got <- m.Actor.ID
			return nil
		})
	}()
	// The follower passes nothing from before it began; wait until it
	// watches by appending until the first event comes through.
	var first string
	for first == "" {
		j.Log("container", "start", "probe", nil)
		select {
		case first = <-got:
		case <-time.After(50 * time.Millisecond):
		}
	}
	for i := range 20 { // several rotations, each seen as it comes
		j.Log("container", "die", "c"+string(rune('a'+i)), nil)
		want := "c" + string(rune('a'+i))
		for {
			id := <-got
			if id == want {
				break
			}
			if id != "probe" {
				t.Fatalf("got %s, want %s", id, want)
			}
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestFilter(t *testing.T) {
	c := New("container", "start", "abcdef123", map[string]string{"name": "web", "image": "busybox:latest", "env": "prod"})
	e := New("container", "exec_start: sh -c ls", "abcdef123", map[string]string{"name": "web", "image": "busybox:latest"})
	i := New("image", "tag", "sha256:1234", map[string]string{"name": "app:v1"})
	for _, tc := range []struct {
		filter []string
		want   string // which of c, e, i match
	}{
		{nil, "cei"},
		{[]string{"type=container"}, "ce"},
		{[]string{"type=image", "type=container"}, "cei"},
		{[]string{"event=start"}, "c"},
		{[]string{"event=exec_start"}, "e"},
		{[]string{"container=web"}, "ce"},
		{[]string{"container=abc"}, "ce"},
		{[]string{"container=nope"}, ""},
		{[]string{"image=busybox"}, "ce"},
		{[]string{"image=app:v1"}, "i"},
		{[]string{"image=app"}, "i"},
		{[]string{"label=env"}, "c"},
		{[]string{"label=env=prod", "type=container"}, "c"},
		{[]string{"label=env=dev"}, ""},
	} {
		f, err := ParseFilter(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for k, m := range map[string]Message{"c": c, "e": e, "i": i} {
			if f.Match(m) {
				got += k
			}
		}
		if sorted(got) != tc.want {
			t.Errorf("filter %v matched %q, want %q", tc.filter, sorted(got), tc.want)
		}
	}
	if _, err := ParseFilter([]string{"colour=red"}); err == nil {
		t.Error("unknown filter key accepted")
	}
	if _, err := ParseFilter([]string{"type"}); err == nil {
		t.Error("filter without = accepted")
	}
}

func sorted(s string) string {
	b := []byte(s)
	for i := range b {
		for j := i + 1; j < len(b); j++ {
			if b[j] < b[i] {
				b[i], b[j] = b[j], b[i]
			}
		}
	}
	return string(b)
}

// FuzzScan: whatever the journal holds (torn, garbage), scan never passes
// a line that was not a whole JSON message, and uses bytes up to the
// last newline only.
func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"Type":"container","Action":"start"}` + "\n" + `{"Ty`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := scan(b, func(Message) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.LastIndexByte(string(b), '\n') + 1; n != want {
			t.Fatalf("used %d bytes, want %d", n, want)
		}
	})
}

// A reader two rotations behind reads the file between from
// events.log.1.
func TestTailTwoRotationsBehind(t *testing.T) {
	dir := t.TempDir()
	j := Open(dir)
	j.max = 400 // two lines a file
	j.Log("container", "create", "a0", nil)
	tl := &tail{path: filepath.Join(dir, currentFile)}
	defer tl.close()
	var got []string
	pass := func(m Message) error { got = append(got, m.Actor.ID); return nil }
	if err := tl.read(pass); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ { // a0 a1 | a2 a3 | a4: two rotations
		j.Log("container", "create", "a"+string(rune('0'+i)), nil)
	}
	if err := tl.read(pass); err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, " "); s != "a0 a1 a2 a3 a4" {
		t.Errorf("read %s", s)
	}
}
