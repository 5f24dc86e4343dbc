package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// eventLineRe is docker events' text line.
var eventLineRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container create [0-9a-f]{64} \(image=bb, name=a, tier=web\)$`)

// A run's create/start/die (and a removal's destroy), read back with
// --since/--until, filters and --format; a follower started before an
// event sees it.
func TestEvents(t *testing.T) {
	root := containerRoot(t)
	t0 := time.Now().Format(time.RFC3339Nano) // after the image was imported
	mustStrata(t, root, "create", "--name", "a", "--label", "tier=web", "bb", "true")

	// The follower: from t0, so its first line (a's create) says it is
	// reading, and it watches the journal before it reads what is there.
	follow := exec.Command(strataBin, "--root", root, "events", "--since", t0, "--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes \"exitCode\"}}")
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	follow.Stderr = os.Stderr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follow.Process.Kill(); follow.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			select {
			case got, ok := <-lines:
				if !ok {
					t.Fatalf("the follower ended; want %q", w)
				}
				if strings.TrimSpace(got) != w {
					t.Fatalf("follower printed %q, want %q", got, w)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("the follower printed nothing for 60 s; want %q", w)
			}
		}
	}
	expect("create a")
	// After the follower began: a run that exits 3, then its removal.
	strata(t, root, "run", "--name", "b", "bb", "sh", "-c", "exit 3")
	mustStrata(t, root, "rm", "b")
	expect("create b", "start b", "die b 3", "destroy b")
	t1 := time.Now().Format(time.RFC3339Nano)

	// Read back: the whole sequence, then narrowed.
	got := mustStrata(t, root, "events", "--since", t0, "--until", t1, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
	if want := "container create a\ncontainer create b\ncontainer start b\ncontainer die b\ncontainer destroy b\n"; got != want {
		t.Errorf("events --since --until:\n%s\nwant:\n%s", got, want)
	}
	for _, tc := range []struct {
		filters []string
		want    string
	}{
		{[]string{"event=die"}, "die b\n"},
		{[]string{"container=b", "event=start", "event=destroy"}, "start b\ndestroy b\n"},
		{[]string{"label=tier=web"}, "create a\n"},
		{[]string{"image=bb", "event=create"}, "create a\ncreate b\n"},
		{[]string{"type=image"}, ""},
	} {
		args := []string{"events", "--since", t0, "--until", t1, "--format", "{{.Action}} {{.Actor.Attributes.name}}"}
		for _, f := range tc.filters {
			args = append(args, "--filter", f)
		}
		if got := mustStrata(t, root, args...); got != tc.want {
			t.Errorf("events --filter %v = %q, want %q", tc.filters, got, tc.want)
		}
	}
	// docker's text line and its JSON message.
	text := strings.Split(mustStrata(t, root, "events", "--since", t0, "--until", t1, "--filter", "event=create", "--filter", "container=a"), "\n")[0]
	if !eventLineRe.MatchString(text) {
		t.Errorf("text line %q is not docker's", text)
	}
	js := mustStrata(t, root, "events", "--since", t0, "--until", t1, "--filter", "event=die", "--format", "{{json .}}")
	var m struct {
		Status, ID, From, Type, Action, Scope string
		Actor                                 struct {
			ID         string
			Attributes map[string]string
		}
		Time, TimeNano int64
	}
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("{{json .}} = %q: %v", js, err)
	}
	if m.Type != "container" || m.Action != "die" || m.Status != "die" || m.ID != m.Actor.ID || len(m.ID) != 64 || m.From != "bb" ||
		m.Scope != "local" || m.Actor.Attributes["exitCode"] != "3" || m.Time != m.TimeNano/1e9 || m.Time == 0 {
		t.Errorf("{{json .}} = %s", js)
	}
	for _, js := range []string{`"scope":"local"`, `"timeNano":`, `"Actor":{"ID":`} {
		if !strings.Contains(mustStrata(t, root, "events", "--since", t0, "--until", t1, "--format", "{{json .}}"), js) {
			t.Errorf("{{json .}} lacks %s", js)
		}
	}
	// A container the user stops: kill (the signal), die, stop.
	mustStrata(t, root, "run", "-d", "--name", "s", "bb", "sleep", "1000")
	mustStrata(t, root, "stop", "-t", "0", "s")
	if got := mustStrata(t, root, "events", "--since", t1, "--until", "0s", "--filter", "container=s", "--format", "{{.Action}} {{index .Actor.Attributes \"signal\"}}"); got != "create \nstart \nkill 15\nkill 9\ndie \nstop \n" {
		t.Errorf("run -d then stop: %q", got)
	}
	// Images and networks.
	t2 := time.Now().Format(time.RFC3339Nano)
	mustStrata(t, root, "tag", "bb", "bb:two")
	mustStrata(t, root, "rmi", "bb:two")
	mustStrata(t, root, "network", "create", "evnet")
	mustStrata(t, root, "network", "rm", "evnet")
	if got := mustStrata(t, root, "events", "--since", t2, "--until", "0s", "--filter", "type=image", "--filter", "type=network", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"); got != "image tag bb:two\nimage untag bb:two\nnetwork create evnet\nnetwork destroy evnet\n" {
		t.Errorf("image and network events: %q", got)
	}
	t3 := time.Now().Format(time.RFC3339Nano)
	mustStrata(t, root, "volume", "create", "evvol")
	mustStrata(t, root, "run", "--rm", "-v", "evvol:/data", "bb", "true")
	mustStrata(t, root, "volume", "rm", "evvol")
	if got := mustStrata(t, root, "events", "--since", t3, "--until", "0s", "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"destination\"}}"); got != "create evvol \nmount evvol /data\ndestroy evvol \n" {
		t.Errorf("volume events: %q", got)
	}
	// Bad input: one line, exit 1.
	for _, args := range [][]string{{"events", "--filter", "colour=red"}, {"events", "--since", "yesterday"}, {"events", "--format", "{{.Nope"}} {
		if r := strata(t, root, args...); r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "Error: ") {
			t.Errorf("strata %v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// The docker CLI's events and the python SDK's client.events(decode=True)
// through the Engine API, bounded by until.
func TestEngineAPIEvents(t *testing.T) {
	cli, root, host := dockerService(t)
	t0 := time.Now().Add(-time.Second)
	strata(t, root, "run", "--name", "e1", "bb", "sh", "-c", "exit 2")
	mustDocker(t, cli, host, "rm", "e1")
	t1 := time.Now()
	since, until := fmt.Sprint(t0.Unix()), fmt.Sprint(t1.Unix()+1)
	out := mustDocker(t, cli, host, "events", "--since", since, "--until", until, "--filter", "container=e1", "--format", "{{.Type}} {{.Action}} {{index .Actor.Attributes \"exitCode\"}}")
	if want := "container create \ncontainer start \ncontainer die 2\ncontainer destroy \n"; out != want {
		t.Errorf("docker events:\n%s\nwant:\n%s", out, want)
	}
	if exec.Command("python3", "-c", "import docker").Run() != nil {
		t.Skip("skipping the SDK part: python3's docker module is missing (apt-get install python3-docker)")
	}
	script := `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
for ev in c.api.events(decode=True, since=int(sys.argv[2]), until=int(sys.argv[3]), filters={"event": ["die"]}):
    print(ev["Type"], ev["Action"], ev["Actor"]["Attributes"]["name"], ev["Actor"]["Attributes"]["exitCode"], ev["status"])
`
	py, err := exec.Command("python3", "-c", script, host, since, until).CombinedOutput()
	if err != nil {
		t.Fatalf("python SDK: %v\n%s", err, py)
	}
	if string(py) != "container die e1 2 die\n" {
		t.Errorf("python SDK events: %q", py)
	}
}
