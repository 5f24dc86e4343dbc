package testutil

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"time"
)

// Tar builds small tar streams for tests, hostile ones included: names are
// written exactly as given (no cleaning), so "../x" and "/etc/passwd" reach
// the reader untouched.
//
//	tb := testutil.NewTar()
//	tb.Dir("etc", 0o755)
//	tb.File("etc/passwd", []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
//	tb.Whiteout("etc/shadow")
//	r := tb.Reader()
//
// Methods panic on a write error, which a bytes.Buffer never gives except for
// headers archive/tar itself refuses; those are test bugs.
type Tar struct {
	buf   bytes.Buffer
	tw    *tar.Writer
	mtime time.Time
}

// TarModTime is the mtime NewTar gives entries that set none.
var TarModTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// NewTar returns an empty builder whose entries get the fixed mtime
// TarModTime, so the same calls always give the same bytes.
func NewTar() *Tar {
	tb := &Tar{mtime: TarModTime}
	tb.tw = tar.NewWriter(&tb.buf)
	return tb
}

// Entry writes hdr and data as given. If hdr.Size is 0 and the entry is a
// regular file it is set to len(data); a zero ModTime gets the fixed mtime.
func (tb *Tar) Entry(hdr *tar.Header, data []byte) *Tar {
	h := *hdr
	if h.Size == 0 && (h.Typeflag == tar.TypeReg || h.Typeflag == 0) {
		h.Size = int64(len(data))
	}
	if h.ModTime.IsZero() {
		h.ModTime = tb.mtime
	}
	if err := tb.tw.WriteHeader(&h); err != nil {
		panic(fmt.Sprintf("tar header %q: %v", h.Name, err))
	}
	if len(data) > 0 {
		if _, err := tb.tw.Write(data); err != nil {
			panic(fmt.Sprintf("tar data %q: %v", h.Name, err))
		}
	}
	return tb
}

// File adds a regular file.
func (tb *Tar) File(name string, data []byte, mode int64) *Tar {
	return tb.Entry(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode}, data)
}

// Dir adds a directory; a trailing slash is added to name if missing.
func (tb *Tar) Dir(name string, mode int64) *Tar {
	if len(name) > 0 && name[len(name)-1] != '/' {
		name += "/"
	}
	return tb.Entry(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}, nil)
}

// Symlink adds a symbolic link name -> target.
func (tb *Tar) Symlink(name, target string) *Tar {
	return tb.Entry(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}, nil)
}

// Hardlink adds a hard link name to the earlier entry target.
func (tb *Tar) Hardlink(name, target string) *Tar {
	return tb.Entry(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}, nil)
}

// Whiteout adds the OCI whiteout for name: an empty file "dir/.wh.base".
func (tb *Tar) Whiteout(name string) *Tar {
	dir, base := path.Split(name)
	return tb.File(dir+".wh."+base, nil, 0o644)
}

// Opaque adds the OCI opaque marker "dir/.wh..wh..opq".
func (tb *Tar) Opaque(dir string) *Tar {
	if len(dir) > 0 && dir[len(dir)-1] != '/' {
		dir += "/"
	}
	return tb.File(dir+".wh..wh..opq", nil, 0o644)
}

// Bytes closes the archive (once) and returns its bytes.
func (tb *Tar) Bytes() []byte {
	if tb.tw != nil {
		if err := tb.tw.Close(); err != nil {
			panic(fmt.Sprintf("tar close: %v", err))
		}
		tb.tw = nil
	}
	return tb.buf.Bytes()
}

// Reader closes the archive and returns a reader over its bytes.
func (tb *Tar) Reader() io.Reader { return bytes.NewReader(tb.Bytes()) }
