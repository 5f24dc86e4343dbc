package build

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRunMountDefaults(t *testing.T) {
	type m struct {
		Typ, Target, Source, From, ID, Sharing, Env string
		RO, Required                                bool
		Mode                                        os.FileMode
		UID, GID                                    int
		Size                                        int64
	}
	tests := []struct {
		name, in, workdir string
		want              m
	}{
		{"bind defaults", "target=/src", "/", m{Typ: "bind", Target: "/src", RO: true, Mode: ^os.FileMode(0)}},
		{"bind rw relative", "type=bind,source=a,dst=out,rw", "/app", m{Typ: "bind", Target: "/app/out", Source: "a", Mode: ^os.FileMode(0)}},
		{"bind ro=false", "type=bind,target=/x,readonly=false,from=build", "/", m{Typ: "bind", Target: "/x", From: "build", Mode: ^os.FileMode(0)}},
		{"cache defaults", "type=cache,target=/root/.cache", "/", m{Typ: "cache", Target: "/root/.cache", ID: "/root/.cache", Sharing: "shared", Mode: 0o755}},
		{"cache options", `type=cache,id=go,target=/go,sharing=locked,mode=0700,uid=1000,gid=50,ro`, "/", m{Typ: "cache", Target: "/go", ID: "go", Sharing: "locked", Mode: 0o700, UID: 1000, GID: 50, RO: true}},
		{"tmpfs", "type=tmpfs,target=/t,size=64m", "/", m{Typ: "tmpfs", Target: "/t", Size: 64 << 20, Mode: ^os.FileMode(0)}},
		{"secret by id", "type=secret,id=npmrc", "/", m{Typ: "secret", Target: "/run/secrets/npmrc", ID: "npmrc", Mode: 0o400}},
		{"secret by target", "type=secret,target=/root/.npmrc,required", "/", m{Typ: "secret", Target: "/root/.npmrc", ID: ".npmrc", Mode: 0o400, Required: true}},
		{"secret as env", "type=secret,id=tok,env=TOKEN,required", "/", m{Typ: "secret", ID: "tok", Env: "TOKEN", Mode: 0o400, Required: true}},
		{"secret as env and file", "type=secret,id=tok,env=TOKEN,target=tok", "/app", m{Typ: "secret", Target: "/app/tok", ID: "tok", Env: "TOKEN", Mode: 0o400}},
		{"ssh defaults", "type=ssh", "/", m{Typ: "ssh", Target: "/run/buildkit/ssh_agent.0", ID: "default", Mode: 0o600}},
		{"ssh options", "type=ssh,id=gh,target=/agent,required,mode=0660,uid=1000,gid=50", "/", m{Typ: "ssh", Target: "/agent", ID: "gh", Mode: 0o660, UID: 1000, GID: 50, Required: true}},
		{"quoted csv", `type=bind,"source=a,b",target=/x`, "/", m{Typ: "bind", Target: "/x", Source: "a,b", RO: true, Mode: ^os.FileMode(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRunMount(tt.in, tt.workdir)
			if err != nil {
				t.Fatal(err)
			}
			got := m{r.typ, r.target, r.source, r.from, r.id, r.sharing, r.env, r.readonly, r.required, r.mode, r.uid, r.gid, r.size}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	bad := map[string]string{
		"type=cache,target=/":            "cannot mount over /",
		"type=tmpfs,target=/t,size=lots": "size=lots",
		"type=bind,target=/x,mode=0700":  "only cache, secret and ssh mounts take a mode",
		"type=cache,target=/x,size=1m":   "only tmpfs mounts take a size",
		"type=tmpfs,target=/x,from=a":    "only bind and cache mounts take from or source",
		"type=bind,target=/x,required":   "only secret and ssh mounts take required",
		"type=ssh,env=X":                 "only secret mounts take env",
		"type=secret,id=a,env=1X":        "env=1X: want a variable name",
		"type=secret,id=a,env=A-B":       "env=A-B: want a variable name",
		"type=ssh,size=1m":               "only tmpfs mounts take a size",
		"type=cache,target=/x,uid=-1":    "want a number",
		"type=cache,target=/x,mode=999":  "want an octal mode",
		"type=secret":                    "needs an id or a target",
		"type=bind,target=/x,ro=maybe":   "want true or false",
		"type=bind,target":               `"target" needs a value`,
		`type=bind,target="/x`:           "--mount=",
	}
	for in, want := range bad {
		if _, err := parseRunMount(in, "/"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseRunMount(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestCacheDirName(t *testing.T) {
	for id, want := range map[string]string{"go": "go", "npm-1.2_x": "npm-1.2_x"} {
		if got := cacheDirName(id); got != want {
			t.Errorf("cacheDirName(%q) = %q, want %q", id, got, want)
		}
	}
	a, b := cacheDirName("/root/.cache"), cacheDirName("root/.cache")
	if a == b || strings.ContainsAny(a, "/") || !strings.HasPrefix(a, "root_.cache-") {
		t.Errorf("cacheDirName: %q and %q", a, b)
	}
	for _, id := range []string{"..", ".", ".npm", ".del-x", "..new-1"} {
		if got := cacheDirName(id); strings.HasPrefix(got, ".") || strings.Contains(got, "/") {
			t.Errorf("cacheDirName(%q) = %q: a dot name is the cache mount dir's own", id, got)
		}
	}
}
