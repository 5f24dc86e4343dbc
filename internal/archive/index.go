package archive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
)

// The index format (see doc.go): a magic line, then records.
const (
	indexMagic   = "strata-tar-index/v1\n"
	recRaw       = 'R' // uvarint n, then n bytes copied verbatim
	recFile      = 'F' // uvarint len, path, uvarint size: size bytes of root/path
	recEnd       = 'E' // end of index
	maxIndexPath = 1 << 16
	rawFlushSize = 32 << 10
)

// indexWriter records a tar stream as raw segments and file references.
type indexWriter struct {
	w   *bufio.Writer
	raw bytes.Buffer
	err error
	tmp [binary.MaxVarintLen64]byte
}

func newIndexWriter(w io.Writer) *indexWriter {
	iw := &indexWriter{w: bufio.NewWriterSize(w, 64<<10)}
	_, iw.err = iw.w.WriteString(indexMagic)
	return iw
}

func (iw *indexWriter) uvarint(v uint64) {
	if iw.err == nil {
		_, iw.err = iw.w.Write(binary.AppendUvarint(iw.tmp[:0], v))
	}
}

func (iw *indexWriter) write(b []byte) {
	if iw.err == nil {
		_, iw.err = iw.w.Write(b)
	}
}

// addRaw buffers bytes of the tar that are not a file payload.
func (iw *indexWriter) addRaw(b []byte) {
	iw.raw.Write(b)
	if iw.raw.Len() >= rawFlushSize {
		iw.flushRaw()
	}
}

func (iw *indexWriter) flushRaw() {
	if iw.raw.Len() == 0 {
		return
	}
	iw.write([]byte{recRaw})
	iw.uvarint(uint64(iw.raw.Len()))
	iw.write(iw.raw.Bytes())
	iw.raw.Reset()
}

// addFile records that the next size bytes of the tar are the content of
// root/rel.
func (iw *indexWriter) addFile(rel string, size int64) {
	iw.flushRaw()
	iw.write([]byte{recFile})
	iw.uvarint(uint64(len(rel)))
	iw.write([]byte(rel))
	iw.uvarint(uint64(size))
}

func (iw *indexWriter) close() error {
	iw.flushRaw()
	iw.write([]byte{recEnd})
	if iw.err == nil {
		iw.err = iw.w.Flush()
	}
	if iw.err != nil {
		return fmt.Errorf("write index: %w", iw.err)
	}
	return nil
}

// Rebuild writes to w the exact tar that Apply read when it produced index,
// taking file payloads from root, so a layer's diffID can be checked (or its
// blob recompressed) after the compressed blob is gone. It fails if a file is
// missing or its size changed; content changes of the same size are caught
// only by the caller's digest check. Paths in the index are resolved beneath
// root like Apply's, so a hostile index cannot read outside it.
func Rebuild(ctx context.Context, w io.Writer, root string, index io.Reader) error {
	rootf, err := os.Open(root)
	if err != nil {
		return fmt.Errorf("rebuild tar: %w", err)
	}
	defer rootf.Close()
	br := bufio.NewReaderSize(index, 64<<10)
	magic := make([]byte, len(indexMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != indexMagic {
		return fmt.Errorf("rebuild tar: not a strata tar index: %w", errdefs.ErrInvalidArgument)
	}
	corruptIndex := func(what string, err error) error {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("rebuild tar: index %s: %w: %w", what, errdefs.ErrDataCorrupt, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		kind, err := br.ReadByte()
		if err != nil {
			return corruptIndex("record", err)
		}
		switch kind {
		case recEnd:
			return nil
		case recRaw:
			n, err := binary.ReadUvarint(br)
			if err != nil {
				return corruptIndex("raw length", err)
			}
			if _, err := io.CopyN(w, br, int64(n)); err != nil {
				return corruptIndex("raw bytes", err)
			}
		case recFile:
			n, err := binary.ReadUvarint(br)
			if err != nil || n > maxIndexPath {
				return corruptIndex("path length", err)
			}
			p := make([]byte, n)
			if _, err := io.ReadFull(br, p); err != nil {
				return corruptIndex("path", err)
			}
			size, err := binary.ReadUvarint(br)
			if err != nil {
				return corruptIndex("size", err)
			}
			if err := copyFile(w, int(rootf.Fd()), string(p), int64(size)); err != nil {
				return fmt.Errorf("rebuild tar: %w", err)
			}
		default:
			return corruptIndex("record", fmt.Errorf("unknown record type %q", kind))
		}
	}
}

func copyFile(w io.Writer, rootfd int, p string, size int64) error {
	rel, ok := cleanName(p)
	if !ok || rel != p {
		return fmt.Errorf("index path %q: %w", p, errdefs.ErrInvalidArgument)
	}
	fd, err := openBeneath(rootfd, rel, unix.O_RDONLY|unix.O_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("open %s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() != size {
		return fmt.Errorf("%s: size %d, index says %d: the unpacked layer was modified: %w",
			rel, fi.Size(), size, errdefs.ErrFailedPrecondition)
	}
	if _, err := io.CopyN(w, f, size); err != nil {
		return fmt.Errorf("copy %s: %w", rel, err)
	}
	return nil
}

// recordingReader counts what Apply reads and, with an index, records every
// byte that is not a regular file's payload.
type recordingReader struct {
	r       io.Reader
	n       int64
	idx     *indexWriter
	payload bool // the tar reader is reading a payload that goes to the index as a file
}

func (rr *recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.n += int64(n)
	if rr.idx != nil && !rr.payload && n > 0 {
		rr.idx.addRaw(p[:n])
	}
	return n, err
}

// indexingWriter passes a tar stream being written to w and records in idx
// every byte that is not a regular file's payload.
type indexingWriter struct {
	w       io.Writer
	idx     *indexWriter
	payload bool // the bytes being written are a payload idx already has as a file
}

func (iw *indexingWriter) Write(p []byte) (int, error) {
	n, err := iw.w.Write(p)
	if !iw.payload && n > 0 {
		iw.idx.addRaw(p[:n])
	}
	return n, err
}
