package build_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func TestApplyChanges(t *testing.T) {
	var cfg ocispec.ImageConfig
	err := build.ApplyChanges(&cfg, []string{`LABEL a="b c" d=e`, `ENV PATH=/bin X="y z"`, `ENTRYPOINT /bin/sh -c`, `USER 1000:1000`, `STOPSIGNAL SIGINT`, `VOLUME ["/data"]`})
	if err != nil {
		t.Fatal(err)
	}
	want := ocispec.ImageConfig{
		Labels:     map[string]string{"a": "b c", "d": "e"},
		Env:        []string{"PATH=/bin", "X=y z"},
		Entrypoint: []string{"/bin/sh", "-c", "/bin/sh -c"},
		User:       "1000:1000",
		StopSignal: "SIGINT",
		Volumes:    map[string]struct{}{"/data": {}},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"RUN echo", "FROM x", "CMDD x", "", "ENV", "CMD a\nENV b=c", "ONBUILD RUN x"} {
		before := cfg
		if err := build.ApplyChanges(&cfg, []string{"CMD changed", bad}); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("--change %q: %v, want invalid argument", bad, err)
		}
		if diff := cmp.Diff(before, cfg); diff != "" {
			t.Errorf("--change %q changed the config (-before +after):\n%s", bad, diff)
		}
	}
}

// A refused instruction gets docker's words ("run is not a valid change
// command"), the change it was, and what --change accepts.
func TestApplyChangesRefused(t *testing.T) {
	for _, c := range []struct{ change, want string }{
		{"RUN echo hi", `--change "RUN echo hi": run is not a valid change command (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR)`},
		{"cmdd x", `--change "cmdd x": cmdd is not a valid change command (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR)`},
		{"HEALTHCHECK CMD true", `--change "HEALTHCHECK CMD true": HEALTHCHECK is not supported with --change (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR)`},
		{"USER", `--change "USER": USER needs an argument`},
		{"CMD a\nENV b=c", `--change "CMD a\nENV b=c": want exactly one instruction`},
	} {
		var cfg ocispec.ImageConfig
		err := build.ApplyChanges(&cfg, []string{c.change})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("--change %q: got %v, want %s", c.change, err, c.want)
		}
	}
}

// The builder and --change interpret an instruction in one place: the same
// lines as Dockerfile steps after FROM and as import's --change give the
// same config (${VAR} from the ENV before, ENTRYPOINT after CMD keeping it,
// WORKDIR relative to the one before).
func TestChangeAndBuildAgree(t *testing.T) {
	e, rootfs := newEngineBase(t)
	ctx := context.Background()
	lines := []string{
		// The builder gives a FROM without PATH docker's default one.
		`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
		`ENV APP=/app LANG="C.UTF-8"`,
		`ENV BIN=${APP}/bin`,
		`LABEL version=1.0 "with space"="a b" home=$APP`,
		`WORKDIR $APP`,
		`WORKDIR sub`,
		`USER app:app`,
		`EXPOSE 8080 53/udp`,
		`VOLUME ["/data", "/cache"]`,
		`VOLUME /logs`,
		`STOPSIGNAL SIGTERM`,
		`CMD serve --port 8080`,
		`ENTRYPOINT ["/bin/app"]`,
	}
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" + strings.Join(lines, "\n") + "\n"})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"built"}})
	if _, err := e.Import(ctx, engine.ImportOptions{Source: rootfs, Ref: "imported", Changes: lines}); err != nil {
		t.Fatal(err)
	}
	built, imported := imageConfig(t, e, "built").Config, imageConfig(t, e, "imported").Config
	if diff := cmp.Diff(built, imported); diff != "" {
		t.Errorf("config (-build +import --change):\n%s", diff)
	}
	if got := imported.Env; !cmp.Equal(got, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP=/app", "LANG=C.UTF-8", "BIN=/app/bin"}) {
		t.Errorf("Env = %q", got)
	}
	if imported.WorkingDir != "/app/sub" || len(imported.Cmd) != 3 {
		t.Errorf("WorkingDir %q, Cmd %q: want /app/sub and CMD's shell form kept", imported.WorkingDir, imported.Cmd)
	}
}
