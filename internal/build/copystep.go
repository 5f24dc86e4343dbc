package build

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/build/cache"
)

// copyStep runs COPY or ADD: sources from the context, a here-document,
// an earlier stage or an image (--from), or (ADD) a URL, written straight
// into a new snapshot without a container.
func (b *builder) copyStep(ctx context.Context, s *state, in Instruction) error {
	env := s.env()
	var words []string
	for _, a := range in.Args {
		if len(in.Heredocs) > 0 && strings.HasPrefix(a, "<<") {
			words = append(words, a)
			continue
		}
		v, err := b.expand(in, a, env)
		if err != nil {
			return err
		}
		words = append(words, v)
	}
	if len(words) < 2 {
		return b.errAt(in, "%s needs at least one source and a destination", strings.ToUpper(in.Cmd))
	}
	srcs, destRaw := words[:len(words)-1], words[len(words)-1]
	dest := destRaw
	if !path.IsAbs(dest) {
		dest = path.Join("/", s.img.Config.WorkingDir, dest)
	}
	destDir := strings.HasSuffix(destRaw, "/") || destRaw == "." || strings.HasSuffix(destRaw, "/.")
	var flagText []string
	for _, f := range in.Flags {
		v, err := b.expand(in, f, env)
		if err != nil {
			return err
		}
		flagText = append(flagText, v)
	}
	createdBy := strings.ToUpper(in.Cmd) + " " + strings.Join(append(flagText, words...), " ") + " # buildkit"
	chmod, err := parseChmod(in.flag("chmod"))
	if err != nil {
		return b.errAt(in, "%v", err)
	}
	chown, _ := b.expand(in, in.flag("chown"), env)
	var exclude []*Ignore
	for _, e := range in.flags("exclude") {
		ig, err := ParseIgnore([]byte(e))
		if err != nil {
			return b.errAt(in, "--exclude=%s: %v", e, err)
		}
		exclude = append(exclude, ig)
	}
	if in.flag("keep-git-dir") != "" {
		return b.errAt(in, "%s --keep-git-dir is not supported yet", strings.ToUpper(in.Cmd))
	}
	checksum, err := b.addChecksum(in, env, srcs)
	if err != nil {
		return err
	}
	parents, err := copyParentsOn(in)
	if err != nil {
		return b.errAt(in, "%v", err)
	}
	link, err := linkOn(in)
	if err != nil {
		return b.errAt(in, "%v", err)
	}
	copySources := copyItems
	if parents {
		copySources = parentsCopier(srcs)
	}
	from, _ := b.expand(in, in.flag("from"), env)
	if in.Cmd == "add" && from != "" {
		return b.errAt(in, "ADD takes no --from; use COPY --from")
	}
	log := b.p.step(s.index, b.title(s, strings.TrimSuffix(createdBy, " # buildkit")))

	tmp, err := os.MkdirTemp("", "strata-copy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// What the step reads: its key part and, for the context, its items.
	var part string
	var items []srcItem
	var inp *stepInputs
	var fromChain digest.Digest
	fromDesc := ""
	switch {
	case from != "":
		if j := b.stageRef(from, s.index); j >= 0 {
			src, err := b.wait(ctx, j)
			if err != nil {
				return err
			}
			fromChain, fromDesc = src.chainID, "stage "+b.stageName(j)
		} else {
			img, err := b.resolveImage(ctx, from, nil)
			if err != nil {
				return b.errAt(in, "COPY --from=%s: no such stage or image in the store: %v", from, err)
			}
			fromChain, fromDesc = img.ChainID(), "image "+from
		}
		part = "from:" + fromChain.String()
	default:
		var ctxSrcs []string
		for _, src := range srcs {
			switch {
			case strings.HasPrefix(src, "<<") && len(in.Heredocs) > 0:
			case in.Cmd == "add" && (strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")):
				dir, err := os.MkdirTemp(tmp, "url-")
				if err != nil {
					return err
				}
				p, name, err := download(ctx, src, dir)
				if err == nil {
					err = verifyDownload(p, src, checksum)
				}
				if err != nil {
					log.failed(err)
					return b.errAt(in, "%v", err)
				}
				items = append(items, srcItem{root: dir, full: p, rel: src, name: name, url: true})
			default:
				ctxSrcs = append(ctxSrcs, src)
			}
		}
		if len(in.Heredocs) > 0 {
			hs, err := writeHeredocs(in, tmp)
			if err != nil {
				return err
			}
			items = append(items, hs...)
		}
		if len(ctxSrcs) > 0 {
			if b.ctxTree == nil {
				return b.errAt(in, "%s %s: there is no build context (the Dockerfile came from standard input)", strings.ToUpper(in.Cmd), ctxSrcs[0])
			}
			for _, src := range ctxSrcs {
				m, err := b.ctxTree.match(ctx, src)
				if err != nil {
					log.failed(err)
					return b.errAt(in, "%s %s: %v", strings.ToUpper(in.Cmd), src, err)
				}
				items = append(items, m...)
			}
		}
		if in.Cmd == "add" {
			for i := range items {
				if fi, err := os.Lstat(items[i].full); err == nil && fi.Mode().IsRegular() && !items[i].url && isTar(items[i].full) {
					items[i].tar = true
				}
			}
		}
		b.statMu.Lock()
		var stat *cache.StatCache
		statRoot := ""
		if b.ctxTree != nil {
			stat, statRoot = b.ctxTree.stat, b.ctxTree.root
		}
		h, files, err := hashItems(ctx, items, stat, statRoot)
		b.statMu.Unlock()
		if err != nil {
			return b.errAt(in, "%s: hash sources: %v", strings.ToUpper(in.Cmd), err)
		}
		part = "content:" + h.String()
		if parents {
			part += parentsKey(items)
		}
		inp = &stepInputs{id: b.stepID(s, createdBy), in: cache.Inputs{Files: files}}
	}
	key := cache.Key(s.key, createdBy, part)
	if link {
		key = linkKey(createdBy, dest, destDir, part)
	}
	mutate := func(ctx context.Context, root string) error {
		o := copyOpts{chmod: chmod, exclude: exclude}
		if link {
			o.mtime = b.writeOptions().TarTime
		}
		if chown != "" {
			uid, gid, err := parseChown(root, chown)
			if err != nil && link {
				return b.errAt(in, "%v (with --link a name is looked up in the step's own empty tree, as BuildKit does: give numeric IDs)", err)
			}
			if err != nil {
				return b.errAt(in, "%v", err)
			}
			o.uid, o.gid, o.chown = uid, gid, true
		}
		if from == "" {
			if inp != nil && b.ctxTree != nil && plainItems(items) && !parents {
				inp.reuse = b.newReuse(ctx, inp, b.ctxTree.root)
				o.reuse = inp.reuse
			}
			if err := copySources(ctx, root, items, dest, destDir, o); err != nil {
				return b.errAt(in, "%s: %v", strings.TrimSuffix(createdBy, " # buildkit"), err)
			}
			return nil
		}
		return b.withView(ctx, fromChain, func(srcRoot string) error {
			t := &sourceTree{root: srcRoot, desc: fromDesc}
			var its []srcItem
			for _, src := range srcs {
				m, err := t.match(ctx, src)
				if err != nil {
					return b.errAt(in, "COPY %s: %v", src, err)
				}
				its = append(its, m...)
			}
			if err := copySources(ctx, root, its, dest, destDir, o); err != nil {
				return b.errAt(in, "%s: %v", strings.TrimSuffix(createdBy, " # buildkit"), err)
			}
			return nil
		})
	}
	// The history row: docker 20.10's built-in frontend writes no flags;
	// the current one, which a "# syntax=" line selects, writes --parents,
	// --chown and --chmod.
	var histFlags []string
	if b.df.Syntax != "" {
		if in.flag("parents") != "" {
			histFlags = append(histFlags, "--parents")
		}
		for _, f := range []string{"chown", "chmod"} {
			if v := in.flag(f); v != "" {
				v, _ = b.expand(in, v, env)
				histFlags = append(histFlags, "--"+f+"="+v)
			}
		}
	}
	history := strings.ToUpper(in.Cmd) + " " + strings.Join(append(histFlags, words...), " ") + " # buildkit"
	if link {
		return b.linkStep(ctx, s, in, log, key, history, inp, mutate)
	}
	return b.fsStep(ctx, s, in, log, key, history, inp, mutate)
}

// plainItems says whether the sources are only files and directories (no
// URL, no tar that ADD unpacks), which is when a COPY may reuse files.
func plainItems(items []srcItem) bool {
	for _, it := range items {
		if it.url || it.tar {
			return false
		}
	}
	return true
}

var _ = fmt.Sprint
