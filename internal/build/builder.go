package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/runtime"
	"github.com/strata-project/strata/internal/snapshot"
)

// Backend is what a build uses of an open store.
type Backend struct {
	Content *content.Store
	DB      *metadata.DB
	Images  *images.Store
	Snap    snapshot.Snapshotter
	Driver  string // "overlay" or "native": how a step's diff is read
	// SharedInodes is archive.WriteOptions.Shared for every tar the build
	// writes of its snapshots: the inodes of the store's file pool.
	SharedInodes func(ino uint64) bool
	Runc         *runtime.Runc
	// Networks gives RUN steps the default network; nil: default is none.
	Networks Networks
	// Pull fetches ref into the store, for a FROM, COPY --from or RUN
	// --mount from= naming an image the store lacks (and for every one
	// with Options.Pull), as docker build pulls; nil: only the store's
	// images are used.
	Pull func(ctx context.Context, ref string) error
}

// Options describe one build.
type Options struct {
	// ContextDir is the build context; "" for none (a Dockerfile on stdin).
	ContextDir string
	// Dockerfile is its content; DockerfileName is how errors name it.
	Dockerfile     []byte
	DockerfileName string
	// Ignore is the context's .dockerignore content.
	Ignore    []byte
	BuildArgs map[string]string
	Target    string
	NoCache   bool
	// Pull pulls every image the Dockerfile names again, even those the
	// store has (docker build --pull); it needs Backend.Pull.
	Pull    bool
	Labels  map[string]string
	Network string // RUN's network: "default" (""), "none" or "host"
	Squash  bool
	// SourceDateEpoch clamps new files' mtimes and every created time.
	SourceDateEpoch *time.Time
	// Progress gets the step lines (nil: quiet); Verbose adds cache miss
	// reasons (--progress plain).
	Progress io.Writer
	Verbose  bool
	// Display gets every step's changes and output lines as events, for
	// the terminal display (progress.StepDisplay); nil for none. It is
	// independent of Progress.
	Display progress.StepReporter
	// StoreBlobs compresses each new layer with Compression into the
	// content store as its step ends. Without it a layer is kept as its
	// snapshot and a tar-split index, and its descriptor names the
	// uncompressed tar (digest = diffID), rebuilt from the snapshot when
	// pushed (and then compressed) or saved, as docker build leaves layers
	// uncompressed until push.
	StoreBlobs  bool
	Compression archive.Compression
	// Secrets are --secret values (id=NAME,src=FILE|env=VAR) that RUN
	// --mount=type=secret reads.
	Secrets []string
	// SSH are --ssh values (ID, ID=SOCKET or ID=KEYFILE[,KEYFILE…]) that
	// RUN --mount=type=ssh forwards.
	SSH []string
	// CacheMountDir holds RUN --mount=type=cache directories between
	// builds (the store's build-cache-mounts).
	CacheMountDir string
}

// Result is the built image: its config and its layers, bottom first.
type Result struct {
	Image  Image
	Layers []ocispec.Descriptor
}

// CacheComment is the history comment of every row the builder writes, as
// BuildKit's.
const CacheComment = "buildkit.dockerfile.v0"

// state is a stage's image as its steps build it.
type state struct {
	img       Image
	layers    []ocispec.Descriptor
	chainID   digest.Digest
	key       digest.Digest // cache key of everything so far
	baseN     int           // layers that came from the FROM image
	baseChain digest.Digest
	baseHist  int               // history rows that came from the FROM image
	args      map[string]string // ARGs in scope
	argOrder  []string          // the stage's ARG names as declared (RUN's history)
	argSet    map[string]bool
	cmdSet    bool
	missed    bool
	name      string
	index     int
	step, n   int
}

func (s *state) clone() *state {
	c := *s
	c.img = s.img.clone()
	c.layers = append([]ocispec.Descriptor(nil), s.layers...)
	c.args = map[string]string{}
	c.argSet = map[string]bool{}
	c.argOrder = nil
	c.cmdSet = false
	return &c
}

type stageRun struct {
	done chan struct{}
	res  *state
	err  error
}

// stageFailedError is what a step waiting for a stage gets when that
// stage failed: the step did not fail, it cannot go on.
type stageFailedError struct{ stage int }

func (e *stageFailedError) Error() string { return fmt.Sprintf("stage %d failed", e.stage) }

type builder struct {
	be      Backend
	opts    Options
	df      *Dockerfile
	p       *printer
	cache   *cache.Store
	ctxTree *sourceTree
	statMu  sync.Mutex
	meta    map[string]string
	runs    []*stageRun
	usedMu  sync.Mutex
	used    []digest.Digest
	pending []cache.Record   // new config-only step records
	steps   []doneStep       // finished steps, recorded by flush
	linked  []metadata.Layer // link layers stacked on a new parent (link.go), recorded by flush
	syncDir string           // a new snapshot's dir: flush syncs its filesystem
	// mountUses are the cache mounts RUNs used, recorded by flush.
	mountUses []cache.MountUse
	secrets   map[string]secretSource
	ssh       map[string]*sshSource
	pullMu    sync.Mutex // one pull at a time (baseimage.go)
	pulled    pulls
	netKeep   netKeeper // holds the default network up between RUNs (network.go)
}

// Build builds the Dockerfile in opts and returns the image; it writes no
// image record (the caller names it).
func Build(ctx context.Context, be Backend, opts Options) (Result, error) {
	df, err := Parse(opts.DockerfileName, opts.Dockerfile)
	if err != nil {
		return Result{}, err
	}
	if v, ok := opts.BuildArgs["SOURCE_DATE_EPOCH"]; ok && opts.SourceDateEpoch == nil && v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Result{}, fmt.Errorf("SOURCE_DATE_EPOCH=%s: want seconds since 1970: %w", v, errdefs.ErrInvalidArgument)
		}
		t := time.Unix(sec, 0).UTC()
		opts.SourceDateEpoch = &t
	}
	if opts.Network, err = runNetwork(opts.Network, ""); err != nil {
		return Result{}, fmt.Errorf("--network %s: want default, none or host: %w", opts.Network, errdefs.ErrInvalidArgument)
	}
	b := &builder{be: be, opts: opts, df: df, p: &printer{w: opts.Progress, verbose: opts.Verbose, disp: opts.Display},
		cache: &cache.Store{DB: be.DB}}
	defer b.netKeep.release(be.Networks)
	if b.secrets, err = parseSecrets(opts.Secrets); err != nil {
		return Result{}, err
	}
	if b.ssh, err = parseSSH(opts.SSH); err != nil {
		return Result{}, err
	}
	ig, err := ParseIgnore(opts.Ignore)
	if err != nil {
		return Result{}, err
	}
	if opts.ContextDir != "" {
		dir, err := filepath.Abs(opts.ContextDir)
		if err != nil {
			return Result{}, err
		}
		if dir, err = filepath.EvalSymlinks(dir); err != nil {
			return Result{}, fmt.Errorf("build context %s: %w", opts.ContextDir, err)
		}
		stat, err := b.cache.LoadStat(ctx, dir)
		if err != nil {
			return Result{}, err
		}
		b.ctxTree = &sourceTree{root: dir, desc: "the build context " + dir, ignore: ig, stat: stat}
	}
	b.meta = map[string]string{}
	for _, a := range df.MetaArgs {
		for _, kv := range a.Args {
			k, v, hasV := strings.Cut(kv, "=")
			if hasV {
				if v, err = b.expand(a, v, envOf(b.meta)); err != nil {
					return Result{}, err
				}
			}
			if bv, ok := opts.BuildArgs[k]; ok {
				v = bv
			} else if !hasV {
				v = autoArgs()[k]
			}
			b.meta[k] = v
		}
	}
	target := len(df.Stages) - 1
	if opts.Target != "" {
		target = -1
		var names []string
		for i, st := range df.Stages {
			if st.Name == strings.ToLower(opts.Target) {
				target = i
			}
			if st.Name != "" {
				names = append(names, st.Name)
			}
		}
		if target < 0 {
			return Result{}, fmt.Errorf("target stage %q not found (stages: %s): %w", opts.Target, strings.Join(names, ", "), errdefs.ErrInvalidArgument)
		}
	}
	for i := range df.Stages {
		if err := b.checkRefs(i); err != nil {
			return Result{}, err
		}
	}
	need := map[int]bool{}
	if err := b.needs(target, need); err != nil {
		return Result{}, err
	}
	planned := 0
	for i := range need {
		planned += 1 + fsSteps(df.Stages[i].Instrs)
	}
	b.p.plan(planned)
	b.runs = make([]*stageRun, len(df.Stages))
	for i := range b.runs {
		b.runs[i] = &stageRun{done: make(chan struct{})}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range df.Stages {
		if !need[i] {
			continue
		}
		g.Go(func() error {
			r := b.runs[i]
			defer close(r.done)
			r.res, r.err = b.runStage(gctx, i)
			if r.err != nil {
				// gctx is done already when another stage failed first
				// (or the build was cancelled): this one only stopped.
				b.p.abort(i, r.err, gctx.Err() != nil)
			}
			// A stage that stopped because one it waits for failed is not
			// the build's error: that stage's own is. Returned here, it
			// could reach the group first (the failed stage closes done
			// before the group has its error), and the build would say
			// only "stage 0 failed".
			var sf *stageFailedError
			if errors.As(r.err, &sf) {
				return nil
			}
			return r.err
		})
	}
	err = g.Wait()
	if b.ctxTree != nil {
		b.statMu.Lock()
		if serr := b.cache.SaveStat(context.WithoutCancel(ctx), b.ctxTree.stat); err == nil && serr != nil {
			err = serr
		}
		b.statMu.Unlock()
	}
	if ferr := b.flush(context.WithoutCancel(ctx)); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return Result{}, err
	}
	res, err := b.finish(ctx, b.runs[target].res)
	if err != nil {
		b.p.abort(-1, err, false)
	}
	return res, err
}

func autoArgs() map[string]string {
	p := manifest.Platform()
	plat := manifest.FormatPlatform(p)
	return map[string]string{
		"TARGETPLATFORM": plat, "TARGETOS": p.OS, "TARGETARCH": p.Architecture, "TARGETVARIANT": p.Variant,
		"BUILDPLATFORM": plat, "BUILDOS": p.OS, "BUILDARCH": p.Architecture, "BUILDVARIANT": p.Variant,
	}
}

// fromEnv is what FROM's words see: the automatic platform ARGs
// ($BUILDPLATFORM, $TARGETARCH…), as BuildKit's, then the ARGs before the
// first FROM, which win.
func (b *builder) fromEnv() []string {
	return append(envOf(autoArgs()), envOf(b.meta)...)
}

func envOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// stageRef returns the index of the stage ref names (a name or a number)
// among the stages before limit, or -1.
func (b *builder) stageRef(ref string, limit int) int {
	ref = strings.ToLower(ref)
	for i := 0; i < limit && i < len(b.df.Stages); i++ {
		if b.df.Stages[i].Name == ref {
			return i
		}
	}
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < limit {
		return n
	}
	return -1
}

// needs marks the stages stage i depends on, itself included.
func (b *builder) needs(i int, need map[int]bool) error {
	if need[i] {
		return nil
	}
	need[i] = true
	st := b.df.Stages[i]
	base, err := b.expand(st.From, st.Base, b.fromEnv())
	if err != nil {
		return err
	}
	var deps []int
	if j := b.stageRef(base, i); j >= 0 {
		deps = append(deps, j)
	}
	for _, in := range st.Instrs {
		if in.Sub != nil {
			continue
		}
		if from := in.flag("from"); from != "" && in.Cmd == "copy" {
			from, _ = b.expand(in, from, envOf(b.meta))
			if j := b.stageRef(from, i); j >= 0 {
				deps = append(deps, j)
			}
		}
		if in.Cmd == "run" {
			for _, from := range mountFroms(in) {
				from, _ = b.expand(in, from, envOf(b.meta))
				if j := b.stageRef(from, i); j >= 0 {
					deps = append(deps, j)
				}
			}
		}
	}
	for _, j := range deps {
		if err := b.needs(j, need); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) errAt(in Instruction, format string, args ...any) error {
	return &Error{File: b.df.Name, Line: in.Line, Msg: fmt.Sprintf(format, args...)}
}

// checkRefs refuses COPY --from a stage at or below stage i, whether or
// not the target needs stage i.
func (b *builder) checkRefs(i int) error {
	for _, in := range b.df.Stages[i].Instrs {
		from := in.flag("from")
		if in.Cmd != "copy" || from == "" {
			continue
		}
		from, _ = b.expand(in, from, envOf(b.meta))
		if b.stageRef(from, i) < 0 && b.stageRef(from, len(b.df.Stages)) >= 0 {
			return b.errAt(in, "COPY --from=%s refers to this or a later stage; a stage can only copy from stages above it", from)
		}
	}
	return nil
}

// wait returns the finished state of stage j.
func (b *builder) wait(ctx context.Context, j int) (*state, error) {
	r := b.runs[j]
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, &stageFailedError{j}
	}
	return r.res, nil
}

func (b *builder) expand(in Instruction, word string, env []string) (string, error) {
	// A Lex keeps state per word: one each, as stages expand in parallel.
	s, _, err := shell.NewLex(b.df.Escape).ProcessWord(word, shell.EnvsFromSlice(env))
	if err != nil {
		return "", b.errAt(in, "%v", err)
	}
	return s, nil
}

// env is what ${VAR} sees in an instruction: the stage's ARGs, then its
// ENV (which wins).
func (s *state) env() []string {
	out := envOf(s.args)
	return append(out, s.img.Config.Env...)
}

func (b *builder) stageName(i int) string {
	if n := b.df.Stages[i].Name; n != "" {
		return n
	}
	return "stage-" + strconv.Itoa(i)
}

func (b *builder) title(s *state, text string) string {
	s.step++
	if len(b.df.Stages) == 1 {
		return fmt.Sprintf("[%d/%d] %s", s.step, s.n, text)
	}
	return fmt.Sprintf("[%s %d/%d] %s", s.name, s.step, s.n, text)
}

func (b *builder) runStage(ctx context.Context, i int) (*state, error) {
	st := b.df.Stages[i]
	s, err := b.from(ctx, i)
	if err != nil {
		return nil, err
	}
	triggers := s.img.Config.OnBuild
	s.img.Config.OnBuild = nil
	var instrs []Instruction
	for _, t := range triggers {
		in, err := parseTrigger(b.df.Name, t, st.From.Line)
		if err != nil {
			return nil, err
		}
		instrs = append(instrs, in)
	}
	instrs = append(instrs, st.Instrs...)
	s.n = 1 + fsSteps(instrs)
	for _, in := range instrs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := b.dispatch(ctx, s, in); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// parseTrigger parses an ONBUILD trigger of the base image.
func parseTrigger(file, t string, line int) (Instruction, error) {
	df, err := Parse(file, []byte("FROM scratch\n"+t+"\n"))
	if err != nil {
		return Instruction{}, fmt.Errorf("ONBUILD trigger %q of the base image: %w", t, err)
	}
	if len(df.Stages[0].Instrs) != 1 {
		return Instruction{}, fmt.Errorf("ONBUILD trigger %q of the base image: want one instruction: %w", t, errdefs.ErrInvalidArgument)
	}
	in := df.Stages[0].Instrs[0]
	in.Line = line
	return in, nil
}

// from starts stage i's state from scratch, an earlier stage or an image.
func (b *builder) from(ctx context.Context, i int) (*state, error) {
	st := b.df.Stages[i]
	base, err := b.expand(st.From, st.Base, b.fromEnv())
	if err != nil {
		return nil, err
	}
	if st.Platform != "" {
		pv, err := b.expand(st.From, st.Platform, b.fromEnv())
		if err != nil {
			return nil, err
		}
		p, err := manifest.ParsePlatform(pv)
		if err != nil {
			return nil, b.errAt(st.From, "FROM --platform=%s: %v", pv, err)
		}
		here := manifest.Platform()
		if p.OS != here.OS || p.Architecture != here.Architecture {
			return nil, b.errAt(st.From, "FROM --platform=%s: this machine builds only for %s (no emulation)", pv, manifest.FormatPlatform(here))
		}
	}
	name := b.stageName(i)
	n := 1 + fsSteps(st.Instrs)
	title := fmt.Sprintf("[%s 1/%d] FROM %s", name, n, base)
	if len(b.df.Stages) == 1 {
		title = fmt.Sprintf("[1/%d] FROM %s", n, base)
	}
	log := b.p.step(i, title)
	var s *state
	switch j := b.stageRef(base, i); {
	case j >= 0:
		parent, err := b.wait(ctx, j)
		if err != nil {
			return nil, err
		}
		s = parent.clone()
	case base == "scratch":
		s = &state{img: Image{Image: ocispec.Image{Platform: manifest.Platform(), RootFS: ocispec.RootFS{Type: "layers"}}}}
		s.img.Config.WorkingDir = "/" // as BuildKit's empty image
		s.key = cache.Key("", "scratch")
	default:
		img, err := b.resolveImage(ctx, base, log)
		if err != nil {
			if errors.Is(err, errdefs.ErrNotFound) && b.be.Pull == nil {
				return nil, b.errAt(st.From, "FROM %s: image not found in the store; pull or import it first", base)
			}
			return nil, b.errAt(st.From, "FROM %s: %v", base, err)
		}
		raw, err := b.be.Content.ReadAll(ctx, img.ConfigDesc, manifest.MaxSize)
		if err != nil {
			return nil, fmt.Errorf("FROM %s: read config: %w", base, err)
		}
		cfg, err := DecodeImage(raw)
		if err != nil {
			return nil, fmt.Errorf("FROM %s: %w", base, err)
		}
		s = &state{img: cfg, layers: append([]ocispec.Descriptor(nil), img.Manifest.Layers...), chainID: img.ChainID()}
		if s.chainID != "" {
			if _, err := b.be.Snap.Stat(ctx, s.chainID.String()); err != nil {
				return nil, b.errAt(st.From, "FROM %s: its layers are not unpacked (%v); pull it again", base, err)
			}
		}
		s.key = cache.Key("", "image", img.ID().String())
		s.baseN, s.baseChain, s.baseHist = len(s.layers), s.chainID, len(s.img.History)
	}
	s.args, s.argSet, s.argOrder = map[string]string{}, map[string]bool{}, nil
	s.name, s.index = name, i
	s.step, s.n = 1, 1
	s.missed = false
	log.done()
	if _, ok := runtime.LookupEnv(s.img.Config.Env, "PATH"); !ok {
		// As BuildKit: an image without PATH gets the default, first.
		s.img.Config.Env = append([]string{"PATH=" + runtime.DefaultPath}, s.img.Config.Env...)
	}
	return s, nil
}

// created is the time new history rows and the image get.
func (b *builder) created() time.Time {
	if e := b.opts.SourceDateEpoch; e != nil {
		return e.UTC()
	}
	return time.Now().UTC()
}

func (b *builder) addHistory(s *state, createdBy string, empty bool, at time.Time) {
	t := at
	s.img.History = append(s.img.History, ocispec.History{Created: &t, CreatedBy: createdBy, Comment: CacheComment, EmptyLayer: empty})
}

// finish turns the target stage's state into the image.
func (b *builder) finish(ctx context.Context, s *state) (Result, error) {
	img := s.img
	if len(b.opts.Labels) > 0 {
		if img.Config.Labels == nil {
			img.Config.Labels = map[string]string{}
		}
		for k, v := range b.opts.Labels {
			img.Config.Labels[k] = v
		}
	}
	var last time.Time
	for _, h := range img.History {
		if h.Created != nil && h.Created.After(last) {
			last = *h.Created
		}
	}
	if b.opts.SourceDateEpoch != nil {
		last = b.opts.SourceDateEpoch.UTC()
	}
	if last.IsZero() {
		last = b.created()
	}
	img.Created = &last
	img.Platform = manifest.Platform()
	img.RootFS.Type = "layers"
	if img.RootFS.DiffIDs == nil {
		img.RootFS.DiffIDs = []digest.Digest{}
	}
	res := Result{Image: img, Layers: s.layers}
	if b.opts.Squash && len(s.layers) > s.baseN+1 {
		return b.squash(ctx, s, res)
	}
	return res, nil
}

// fsSteps counts the steps that print a progress line (as BuildKit, those
// that may change files).
func fsSteps(instrs []Instruction) int {
	n := 0
	for _, in := range instrs {
		switch in.Cmd {
		case "run", "copy", "add":
			n++
		case "workdir":
			if len(in.Args) == 0 || in.Args[0] != "/" { // WORKDIR / makes nothing
				n++
			}
		}
	}
	return n
}
