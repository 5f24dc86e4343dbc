package build_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/progress"
)

// events records what a build reports to its display.
type events struct {
	mu  sync.Mutex
	evs []progress.StepEvent
}

func (r *events) report(ev progress.StepEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

// steps checks that every step started once and ended once, with nothing
// after its end, and returns name → how it ended, its error, and its
// output.
func (r *events) steps(t *testing.T) map[string]stepEnd {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	names := map[int]string{}
	out := map[string]stepEnd{}
	for _, ev := range r.evs {
		if ev.Kind == progress.StepPlanned {
			continue
		}
		name, ok := names[ev.ID]
		if ev.Kind == progress.StepStarted {
			if ok {
				t.Errorf("step #%d started twice", ev.ID)
			}
			names[ev.ID] = ev.Name
			out[ev.Name] = stepEnd{kind: progress.StepStarted}
			continue
		}
		if !ok {
			t.Errorf("event %+v before its step started", ev)
			continue
		}
		e := out[name]
		if e.kind != progress.StepStarted {
			t.Errorf("event %+v after step %q ended", ev, name)
			continue
		}
		switch ev.Kind {
		case progress.StepOutput:
			e.output = append(e.output, ev.Line)
		default:
			e.kind, e.err = ev.Kind, ev.Err
		}
		out[name] = e
	}
	for name, e := range out {
		if e.kind == progress.StepStarted {
			t.Errorf("step %q never ended", name)
		}
	}
	return out
}

type stepEnd struct {
	kind   progress.StepKind
	err    string
	output []string
}

func (r *events) planned() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.evs {
		if ev.Kind == progress.StepPlanned {
			return ev.Total
		}
	}
	return -1
}

// A failing stage fails its step; the stage running beside it, and the
// one waiting for both, are canceled: each step ends once.
func TestDisplayEventsOnFailure(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS bad
RUN sleep 0.5; echo about to fail; exit 3

FROM busybox AS slow
RUN echo slow start; sleep 30

FROM busybox
COPY --from=bad / /bad
COPY --from=slow / /slow
`})
	var rec events
	_, plain, err := doBuild(t, e, engine.BuildOptions{Context: dir, Display: rec.report})
	if err == nil || !strings.Contains(err.Error(), "exited with code 3") {
		t.Fatalf("build: %v, want exit code 3", err)
	}
	if n := rec.planned(); n != 7 {
		t.Errorf("planned %d steps, want 7", n)
	}
	got := rec.steps(t)
	want := map[string]progress.StepKind{
		"[bad 1/2] FROM busybox":                              progress.StepDone,
		"[bad 2/2] RUN sleep 0.5; echo about to fail; exit 3": progress.StepFailed,
		"[slow 1/2] FROM busybox":                             progress.StepDone,
		"[slow 2/2] RUN echo slow start; sleep 30":            progress.StepCanceled,
		"[stage-2 1/3] FROM busybox":                          progress.StepDone,
		"[stage-2 2/3] COPY --from=bad / /bad":                progress.StepCanceled,
	}
	for name, kind := range want {
		if g, ok := got[name]; !ok || g.kind != kind {
			t.Errorf("step %q ended as %v (seen %t), want %v; all: %+v\nplain:\n%s", name, g.kind, ok, kind, got, plain)
		}
	}
	bad := got["[bad 2/2] RUN sleep 0.5; echo about to fail; exit 3"]
	if !strings.Contains(bad.err, "exited with code 3") || strings.Join(bad.output, "|") != "about to fail" {
		t.Errorf("failed step: err %q, output %q", bad.err, bad.output)
	}
	if !strings.Contains(plain, "#") {
		t.Errorf("the plain lines stopped beside the display:\n%s", plain)
	}
}

// A step that fails without saying so itself (the builder returns an
// error after starting it) is failed with the stage's error; a cached
// step is cached.
func TestDisplayEventsUnclaimedFailureAndCache(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY --from=nosuch:image /x /x\n"})
	var rec events
	if _, _, err := doBuild(t, e, engine.BuildOptions{Context: dir, Display: rec.report}); err == nil {
		t.Fatal("build of COPY --from a missing image succeeded")
	}
	got := rec.steps(t)
	if g := got["[2/3] RUN echo one > /one"]; g.kind != progress.StepDone {
		t.Errorf("RUN ended as %v, want done", g.kind)
	}
	if g := got["[3/3] COPY --from=nosuch:image /x /x"]; g.kind != progress.StepFailed || !strings.Contains(g.err, "nosuch:image") {
		t.Errorf("COPY ended as %v with %q, want failed naming the image", g.kind, g.err)
	}

	rec = events{}
	dir = writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo one > /one\n"})
	if _, _, err := doBuild(t, e, engine.BuildOptions{Context: dir, Display: rec.report}); err != nil {
		t.Fatal(err)
	}
	got = rec.steps(t)
	if g := got["[2/2] RUN echo one > /one"]; g.kind != progress.StepCached {
		t.Errorf("RUN ended as %v, want cached; all: %+v", g.kind, got)
	}
}
