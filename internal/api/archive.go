package api

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"

	"github.com/moby/moby/api/types/container"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// GET and HEAD /containers/{name}/archive?path=P: docker cp out of a
// container. The path's stat travels in X-Docker-Container-Path-Stat
// (base64 JSON), which the CLI reads before the tar.
func (s *Server) getArchive(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	path := r.URL.Query().Get("path")
	if path == "" {
		return fmt.Errorf("path is required: %w", errdefs.ErrInvalidArgument)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	pr, pw := io.Pipe()
	// The copy ends when the tar is written, when it fails (the error
	// reaches the reader), or when ctx is cancelled (a HEAD, a client gone).
	go func() { pw.CloseWithError(s.eng.CopyFromContainer(ctx, c.ID, path, pw, engine.CopyOptions{})) }()
	defer pr.Close()

	// The first header of the tar is the path itself: read it through a
	// buffer that keeps the bytes, to send them on after the stat.
	var seen bytes.Buffer
	hdr, err := tar.NewReader(io.TeeReader(pr, &seen)).Next()
	if err != nil {
		if errdefs.IsNotFound(err) || errors.Is(err, fs.ErrNotExist) || err == io.EOF {
			return fmt.Errorf("Could not find the file %s in container %s: %w", path, name, errdefs.ErrNotFound)
		}
		return err
	}
	stat, _ := json.Marshal(container.PathStat{Name: hdr.FileInfo().Name(), Size: hdr.Size, Mode: hdr.FileInfo().Mode(), Mtime: hdr.ModTime, LinkTarget: hdr.Linkname})
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(stat))
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := w.Write(seen.Bytes()); err != nil {
		return nil
	}
	io.Copy(w, pr)
	return nil
}

// PUT /containers/{name}/archive?path=DIR: docker cp into a container; the
// body is a tar extracted under DIR, which must exist.
func (s *Server) putArchive(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	dir := r.URL.Query().Get("path")
	if dir == "" {
		return fmt.Errorf("path is required: %w", errdefs.ErrInvalidArgument)
	}
	if err := s.eng.CopyToContainer(r.Context(), c.ID, dir, r.Body); err != nil {
		if errdefs.IsNotFound(err) || os.IsNotExist(err) {
			return fmt.Errorf("Could not find the file %s in container %s: %w", dir, name, errdefs.ErrNotFound)
		}
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
