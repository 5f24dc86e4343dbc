package build

import (
	"encoding/csv"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// runMount is one RUN --mount, parsed, as BuildKit's Dockerfile frontend
// reads it (docs/reference: "RUN --mount"):
//
//	bind    target, source (default the root of from), from (a stage or an
//	        image; default the context), readonly (default) or rw, whose
//	        writes are discarded
//	cache   target, id (default the target), sharing shared|private|locked,
//	        mode/uid/gid of a new cache dir, from/source to seed it, ro
//	tmpfs   target, size
//	secret  id (default the target's base name), target (default
//	        /run/secrets/<id> unless env is given), env (a variable of the
//	        RUN that gets the value), required, mode (default 0400), uid, gid
//	ssh     id (default "default"), target (default
//	        /run/buildkit/ssh_agent.N, N counting the RUN's ssh mounts),
//	        required, mode (default 0600), uid, gid
//
// A secret or ssh mount whose id the build was not given is left out,
// unless required (then the build fails), as BuildKit does.
type runMount struct {
	typ        string
	target     string
	source     string
	from       string
	readonly   bool
	id         string
	sharing    string
	mode       os.FileMode
	uid, gid   int
	size       int64
	required   bool
	env        string // secret: the variable that gets the value
	sshFirst   bool   // the RUN's first ssh mount: SSH_AUTH_SOCK names it
	autoTarget bool   // an ssh mount without target=
	data       string // sys: the file's content (sysMounts)

	// Resolved by mountKeys: what the source is read from.
	fromChain digest.Digest // a stage's or image's layers
	fromView  bool          // from names a stage or an image (else the context)
	items     []srcItem     // bind from the context: the source, for its hash
}

// parseRunMount reads one --mount value (CSV of key=value; ro, rw and
// required may stand alone). workdir makes a relative target absolute.
func parseRunMount(v, workdir string) (*runMount, error) {
	r := csv.NewReader(strings.NewReader(v))
	fields, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("--mount=%s: %v", v, err)
	}
	m := &runMount{typ: "bind", mode: ^os.FileMode(0)}
	ro, rw := false, false
	var mode string
	for _, f := range fields {
		k, val, hasV := strings.Cut(strings.TrimSpace(f), "=")
		k = strings.ToLower(k)
		boolVal := func() (bool, error) {
			if !hasV {
				return true, nil
			}
			b, err := strconv.ParseBool(val)
			if err != nil {
				return false, fmt.Errorf("--mount %s=%s: want true or false", k, val)
			}
			return b, nil
		}
		if !hasV && k != "ro" && k != "readonly" && k != "rw" && k != "readwrite" && k != "required" {
			return nil, fmt.Errorf("--mount=%s: %q needs a value (key=value)", v, k)
		}
		switch k {
		case "type":
			m.typ = strings.ToLower(val)
		case "target", "dst", "destination":
			m.target = val
		case "source", "src":
			m.source = val
		case "from":
			m.from = val
		case "id":
			m.id = val
		case "env":
			if !validEnvName(val) {
				return nil, fmt.Errorf("--mount env=%s: want a variable name (letters, digits and _, not starting with a digit)", val)
			}
			m.env = val
		case "sharing":
			m.sharing = strings.ToLower(val)
		case "mode":
			mode = val
		case "uid", "gid":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--mount %s=%s: want a number", k, val)
			}
			if k == "uid" {
				m.uid = int(n)
			} else {
				m.gid = int(n)
			}
		case "size":
			n, err := parseSize(val)
			if err != nil {
				return nil, fmt.Errorf("--mount size=%s: %v", val, err)
			}
			m.size = n
		case "ro", "readonly":
			if ro, err = boolVal(); err != nil {
				return nil, err
			}
			rw = !ro
		case "rw", "readwrite":
			if rw, err = boolVal(); err != nil {
				return nil, err
			}
			ro = !rw
		case "required":
			if m.required, err = boolVal(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("--mount=%s: unknown option %q", v, k)
		}
	}
	switch m.typ {
	case "bind":
		m.readonly = !rw
	case "cache":
		m.readonly = ro
		if m.id == "" {
			m.id = m.target
		}
		switch m.sharing {
		case "":
			m.sharing = "shared"
		case "shared", "private", "locked":
		default:
			return nil, fmt.Errorf("--mount sharing=%s: want shared, private or locked", m.sharing)
		}
		if mode == "" {
			m.mode = 0o755
		}
	case "tmpfs":
	case "secret":
		if m.id == "" {
			if m.target == "" {
				return nil, fmt.Errorf("--mount=%s: a secret mount needs an id or a target", v)
			}
			m.id = path.Base(m.target)
		}
		if m.target == "" && m.env == "" {
			m.target = "/run/secrets/" + m.id
		}
		if mode == "" {
			m.mode = 0o400
		}
	case "ssh":
		if m.id == "" {
			m.id = "default"
		}
		if m.target == "" {
			m.target, m.autoTarget = sshTarget(0), true // parseRunMounts numbers it
		}
		if mode == "" {
			m.mode = 0o600
		}
	default:
		return nil, fmt.Errorf("--mount type=%s: unknown mount type (want bind, cache, tmpfs, secret or ssh)", m.typ)
	}
	if m.env != "" && m.typ != "secret" {
		return nil, fmt.Errorf("--mount=%s: only secret mounts take env", v)
	}
	if mode != "" {
		if m.typ != "cache" && m.typ != "secret" && m.typ != "ssh" {
			return nil, fmt.Errorf("--mount mode=%s: only cache, secret and ssh mounts take a mode", mode)
		}
		n, err := strconv.ParseUint(mode, 8, 32)
		if err != nil || n > 0o7777 {
			return nil, fmt.Errorf("--mount mode=%s: want an octal mode such as 0755", mode)
		}
		m.mode = os.FileMode(n)
	}
	if m.target == "" && m.env != "" {
		return m, nil // a secret only in the environment
	}
	if m.target == "" {
		return nil, fmt.Errorf("--mount=%s: a %s mount needs a target", v, m.typ)
	}
	if !path.IsAbs(m.target) {
		m.target = path.Join("/", workdir, m.target)
	}
	m.target = path.Clean(m.target)
	if m.target == "/" {
		return nil, fmt.Errorf("--mount=%s: cannot mount over /", v)
	}
	if m.size != 0 && m.typ != "tmpfs" {
		return nil, fmt.Errorf("--mount size=%d: only tmpfs mounts take a size", m.size)
	}
	if (m.from != "" || m.source != "") && m.typ != "bind" && m.typ != "cache" {
		return nil, fmt.Errorf("--mount=%s: only bind and cache mounts take from or source", v)
	}
	if m.required && m.typ != "secret" && m.typ != "ssh" {
		return nil, fmt.Errorf("--mount=%s: only secret and ssh mounts take required", v)
	}
	return m, nil
}

// sshTarget is where BuildKit puts the n-th ssh mount of a RUN that names
// no target.
func sshTarget(n int) string { return "/run/buildkit/ssh_agent." + strconv.Itoa(n) }

// validEnvName reports whether s can be an environment variable of the
// RUN's shell.
func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// parseSize reads a byte count with an optional k, m or g suffix (powers
// of 1024, as go-units' RAMInBytes that BuildKit uses).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size in bytes, optionally with k, m or g")
	}
	return n * mult, nil
}

// parseRunMounts expands and parses every --mount of a RUN, refusing two
// mounts on one target.
func (b *builder) parseRunMounts(s *state, in Instruction) ([]*runMount, error) {
	env := s.env()
	var out []*runMount
	seen := map[string]bool{}
	nSSH := 0
	for _, raw := range in.flags("mount") {
		v, err := b.expand(in, raw, env)
		if err != nil {
			return nil, err
		}
		m, err := parseRunMount(v, s.img.Config.WorkingDir)
		if err != nil {
			return nil, b.errAt(in, "RUN %v", err)
		}
		if m.typ == "ssh" {
			// As BuildKit: the N-th ssh mount without a target gets
			// ssh_agent.N, and SSH_AUTH_SOCK names the first one.
			if m.autoTarget {
				m.target = sshTarget(nSSH)
			}
			m.sshFirst = nSSH == 0
			nSSH++
		}
		if m.target == "" {
			out = append(out, m) // a secret given only as env=
			continue
		}
		if seen[m.target] {
			return nil, b.errAt(in, "RUN --mount: two mounts target %s", m.target)
		}
		seen[m.target] = true
		out = append(out, m)
	}
	// Parents before children, so runc mounts /a before /a/b.
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(out[i].target, "/") < strings.Count(out[j].target, "/")
	})
	return out, nil
}

// mountFroms lists the from= values of a RUN's mounts (unexpanded) for
// the stage graph.
func mountFroms(in Instruction) []string {
	var out []string
	for _, raw := range in.flags("mount") {
		r := csv.NewReader(strings.NewReader(raw))
		fields, err := r.Read()
		if err != nil {
			continue
		}
		for _, f := range fields {
			if k, v, ok := strings.Cut(strings.TrimSpace(f), "="); ok && strings.EqualFold(k, "from") && v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}
