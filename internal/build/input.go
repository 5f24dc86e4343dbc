package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
)

// maxStdinDockerfile caps a Dockerfile or context tar read from stdin
// before it is known which it is.
const maxStdinDockerfile = 1 << 20

// ReadInput fills in o's context directory, Dockerfile and .dockerignore
// as `docker build` takes them: contextDir is a directory, or "-" for
// stdin holding either a tar of the context (compressed or not) or a
// Dockerfile alone; dockerfile is the Dockerfile's path ("" is
// CONTEXT/Dockerfile; relative to the unpacked context with "-").
// cleanup, when not nil, removes a context unpacked from stdin; it is
// returned with an error too.
func ReadInput(ctx context.Context, contextDir, dockerfile string, stdin io.Reader, o *Options) (cleanup func(), err error) {
	ctxDir := contextDir
	if ctxDir == "" {
		return nil, fmt.Errorf("build: no context given: %w", errdefs.ErrInvalidArgument)
	}
	if ctxDir == "-" {
		if stdin == nil {
			return nil, fmt.Errorf("build from -: no standard input: %w", errdefs.ErrInvalidArgument)
		}
		br := peek(stdin)
		if isTarStream(br.head) {
			dir, err := os.MkdirTemp("", "strata-context-")
			if err != nil {
				return nil, err
			}
			cleanup = func() { os.RemoveAll(dir) }
			rc, _, err := archive.Decompress(br)
			if err != nil {
				return cleanup, fmt.Errorf("build context from standard input: %w", err)
			}
			defer rc.Close()
			if _, err := archive.Apply(ctx, dir, rc, archive.ApplyOptions{}); err != nil {
				return cleanup, fmt.Errorf("build context from standard input: %w", err)
			}
			ctxDir = dir
		} else {
			b, err := io.ReadAll(io.LimitReader(br, maxStdinDockerfile+1))
			if err != nil {
				return nil, err
			}
			if len(b) > maxStdinDockerfile {
				return nil, fmt.Errorf("Dockerfile on standard input is over 1 MiB: %w", errdefs.ErrInvalidArgument)
			}
			o.Dockerfile, o.DockerfileName = b, "Dockerfile"
			return nil, nil
		}
	} else if fi, err := os.Stat(ctxDir); err != nil {
		return nil, fmt.Errorf("build context %s: %w", ctxDir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory: %w", ctxDir, errdefs.ErrInvalidArgument)
	}
	o.ContextDir = ctxDir
	df := dockerfile
	if df == "" {
		df = filepath.Join(ctxDir, "Dockerfile")
	} else if !filepath.IsAbs(df) && contextDir == "-" {
		df = filepath.Join(ctxDir, df)
	}
	b, err := os.ReadFile(df)
	if err != nil {
		return cleanup, fmt.Errorf("read Dockerfile: %w", err)
	}
	o.Dockerfile = b
	o.DockerfileName = filepath.Base(df)
	if ig, err := os.ReadFile(filepath.Join(ctxDir, ".dockerignore")); err == nil {
		o.Ignore = ig
	} else if !errors.Is(err, os.ErrNotExist) {
		return cleanup, err
	}
	return cleanup, nil
}

type peeked struct {
	head []byte
	r    io.Reader
}

func (p *peeked) Read(b []byte) (int, error) { return p.r.Read(b) }

// peek reads the first bytes of r so the caller can tell a tar from a
// Dockerfile, and still reads everything after.
func peek(r io.Reader) *peeked {
	head := make([]byte, 1024)
	n, _ := io.ReadFull(r, head)
	head = head[:n]
	return &peeked{head: head, r: io.MultiReader(bytes.NewReader(head), r)}
}

func isTarStream(head []byte) bool {
	rc, c, err := archive.Decompress(bytes.NewReader(head))
	if err != nil {
		return false
	}
	defer rc.Close()
	if c != archive.Uncompressed {
		return true // a compressed stream is a context, never a Dockerfile
	}
	// A ustar, pax or GNU header says "ustar" at offset 257.
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}
