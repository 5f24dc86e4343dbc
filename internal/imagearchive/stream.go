package imagearchive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
)

// maxHead caps the small files kept in memory from the head of a stream.
const maxHead = 64 << 20

// errNotInHead says a file the plan needs did not come before the first
// big entry: the stream is then spooled to disk after all.
var errNotInHead = errors.New("not in the head of the stream")

// streamFiles reads an archive that arrives as a stream (standard input, a
// compressed file) in one pass when its index.json and other JSON come
// before its layers, as Write orders them. The small files at the head are
// kept in memory; each layer is handed to the loader as the stream reaches
// it, so its bytes are read once and never written to disk by this
// package. A layer the stream brings before the loader wants it, or that
// the loader wants twice, is copied to a temp file. An archive in any other
// order (docker writes manifest.json last) is spooled whole to a temp file
// and read as a file.
type streamFiles struct {
	ctx      context.Context
	src      io.ReadCloser // the decompressed stream
	tr       *tar.Reader
	dir      string
	head     []headEntry // every entry before pending, in order, for spoolAll
	mem      map[string][]byte
	links    map[string]string
	spooled  map[string]string // name -> temp file
	pending  *tar.Header       // read, its data not yet
	uses     map[string]int    // name -> opens the loader will still make
	eof      bool
	planning bool
}

type headEntry struct {
	hdr  *tar.Header
	data []byte
}

func openStream(ctx context.Context, r io.Reader, what, dir string) (*streamFiles, error) {
	dr, _, err := archive.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	s := &streamFiles{ctx: ctx, src: dr, tr: tar.NewReader(dr), dir: dir, mem: map[string][]byte{},
		links: map[string]string{}, spooled: map[string]string{}, uses: map[string]int{}, planning: true}
	var total int64
	n := 0
	for {
		hdr, name, err := s.next()
		if err == io.EOF {
			if n == 0 {
				s.Close()
				return nil, fmt.Errorf("read %s: empty, or not a tar archive: %w", what, errdefs.ErrInvalidArgument)
			}
			break
		}
		if err != nil {
			s.Close()
			if n == 0 && !errors.Is(err, errdefs.ErrInvalidArgument) {
				return nil, fmt.Errorf("read %s: not a tar archive (%v): %w", what, err, errdefs.ErrInvalidArgument)
			}
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		n++
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			s.head = append(s.head, headEntry{hdr: hdr})
			continue
		}
		if hdr.Size > manifest.MaxSize || total+hdr.Size > maxHead {
			s.pending = hdr
			break
		}
		data, err := io.ReadAll(s.tr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("read %s: archive entry %q is cut short (the archive is truncated): %w: %w", what, hdr.Name, errdefs.ErrDataCorrupt, err)
		}
		total += int64(len(data))
		s.mem[name] = data
		s.head = append(s.head, headEntry{hdr: hdr, data: data})
	}
	return s, nil
}

// next reads the next header, checks its name and records links; io.EOF
// at the end.
func (s *streamFiles) next() (*tar.Header, string, error) {
	for {
		if err := s.ctx.Err(); err != nil {
			return nil, "", err
		}
		hdr, err := s.tr.Next()
		if err == io.EOF {
			s.eof = true
			return nil, "", io.EOF
		}
		if err != nil {
			return nil, "", fmt.Errorf("the archive is truncated or corrupt: %w: %w", errdefs.ErrDataCorrupt, err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return nil, "", err
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeDir, tar.TypeXGlobalHeader:
		case tar.TypeSymlink:
			target, err := linkTarget(hdr, name)
			if err != nil {
				return nil, "", err
			}
			s.links[name] = target
		case tar.TypeLink:
			target, err := linkTarget(hdr, name)
			if err != nil {
				return nil, "", err
			}
			if d, ok := s.mem[target]; ok {
				s.mem[name] = d
			} else if p, ok := s.spooled[target]; ok {
				s.spooled[name] = p
			} else {
				return nil, "", fmt.Errorf("archive entry %q is a hard link to %q, which is not an earlier file: %w", hdr.Name, hdr.Linkname, errdefs.ErrInvalidArgument)
			}
		default:
			return nil, "", fmt.Errorf("archive entry %q has type %q, which an image archive never holds: refused: %w", hdr.Name, hdr.Typeflag, errdefs.ErrInvalidArgument)
		}
		return hdr, name, nil
	}
}

func (s *streamFiles) Has(name string) bool {
	r, err := resolveLinks(s.links, name)
	if err != nil {
		return false
	}
	_, inMem := s.mem[r]
	_, spooled := s.spooled[r]
	return inMem || spooled
}

func (s *streamFiles) Size(name string) (int64, error) {
	r, err := resolveLinks(s.links, name)
	if err != nil {
		return 0, err
	}
	if d, ok := s.mem[r]; ok {
		return int64(len(d)), nil
	}
	if s.pending != nil && s.pending.Name != "" {
		if pn, _ := cleanName(s.pending.Name); pn == r {
			return s.pending.Size, nil
		}
	}
	if s.eof {
		return 0, fmt.Errorf("%s is missing from the archive: %w", name, errdefs.ErrNotFound)
	}
	return -1, nil
}

// plan records which files the loader will open, and how often.
func (s *streamFiles) plan(imgs []Image) {
	s.planning = false
	for _, img := range imgs {
		for _, l := range img.Layers {
			if r, err := resolveLinks(s.links, l.Path); err == nil {
				s.uses[r]++
			}
		}
	}
}

func (s *streamFiles) Open(name string) (io.ReadCloser, int64, error) {
	r, err := resolveLinks(s.links, name)
	if err != nil {
		return nil, 0, err
	}
	if d, ok := s.mem[r]; ok {
		s.uses[r]--
		return io.NopCloser(bytes.NewReader(d)), int64(len(d)), nil
	}
	if s.planning {
		return nil, 0, fmt.Errorf("%s: %w", name, errNotInHead)
	}
	if p, ok := s.spooled[r]; ok {
		s.uses[r]--
		f, err := os.Open(p)
		if err != nil {
			return nil, 0, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, fi.Size(), nil
	}
	for {
		hdr := s.pending
		var hn string
		if hdr != nil {
			s.pending = nil
			hn, _ = cleanName(hdr.Name)
		} else {
			if s.eof {
				return nil, 0, fmt.Errorf("%s is missing from the archive: %w", name, errdefs.ErrNotFound)
			}
			var err error
			if hdr, hn, err = s.next(); err == io.EOF {
				return nil, 0, fmt.Errorf("%s is missing from the archive: %w", name, errdefs.ErrNotFound)
			} else if err != nil {
				return nil, 0, err
			}
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			continue
		}
		if hn == r {
			s.uses[r]--
			if s.uses[r] <= 0 {
				return io.NopCloser(io.LimitReader(s.tr, hdr.Size)), hdr.Size, nil
			}
			// Wanted again later: keep a copy as it streams by.
			f, err := s.tempFile()
			if err != nil {
				return nil, 0, err
			}
			s.spooled[r] = f.Name()
			return &teeEntry{r: io.TeeReader(io.LimitReader(s.tr, hdr.Size), f), f: f}, hdr.Size, nil
		}
		if s.uses[hn] > 0 {
			if err := s.spoolEntry(hn); err != nil {
				return nil, 0, err
			}
		}
	}
}

// teeEntry copies an entry to a temp file as the loader reads it; Close
// copies what the loader left.
type teeEntry struct {
	r io.Reader
	f *os.File
}

func (t *teeEntry) Read(p []byte) (int, error) { return t.r.Read(p) }

func (t *teeEntry) Close() error {
	_, err := io.Copy(io.Discard, t.r)
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *streamFiles) tempFile() (*os.File, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	return os.CreateTemp(s.dir, spoolPrefix+strconv.Itoa(os.Getpid())+"-*.blob")
}

func (s *streamFiles) spoolEntry(name string) error {
	f, err := s.tempFile()
	if err != nil {
		return err
	}
	s.spooled[name] = f.Name()
	if _, err := io.Copy(f, ctxReader{s.ctx, s.tr}); err != nil {
		f.Close()
		return fmt.Errorf("spool %s: %w", name, err)
	}
	return f.Close()
}

// spoolAll writes the whole stream — the head already read, then the
// rest — to a temp tar file and indexes it.
func (s *streamFiles) spoolAll() (*tarFiles, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.dir, spoolPrefix+strconv.Itoa(os.Getpid())+"-*.tar")
	if err != nil {
		return nil, fmt.Errorf("spool the archive: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	tw := tar.NewWriter(f)
	for _, h := range s.head {
		if err := tw.WriteHeader(h.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(h.data); err != nil {
			return nil, err
		}
	}
	for hdr := s.pending; hdr != nil || !s.eof; {
		if hdr == nil {
			h, err := s.tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("the archive is truncated or corrupt: %w: %w", errdefs.ErrDataCorrupt, err)
			}
			hdr = h
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, ctxReader{s.ctx, s.tr}); err != nil {
			return nil, fmt.Errorf("spool the archive to %s: %w", s.dir, err)
		}
		hdr = nil
	}
	s.pending = nil
	if err := tw.Close(); err != nil {
		return nil, err
	}
	t, err := indexTar(s.ctx, f)
	if err != nil {
		return nil, err
	}
	t.spooled = f.Name()
	ok = true
	return t, nil
}

func (s *streamFiles) Close() error {
	err := s.src.Close()
	for _, p := range s.spooled {
		os.Remove(p)
	}
	return err
}
