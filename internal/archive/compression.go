package archive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/strata-project/strata/internal/errdefs"
)

// Compression is the compression of a layer blob. The zero value is
// Uncompressed.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

// String returns "uncompressed", "gzip" or "zstd", the words used in media
// types (application/vnd.oci.image.layer.v1.tar+gzip).
func (c Compression) String() string {
	switch c {
	case Uncompressed:
		return "uncompressed"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", int(c))
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// DetectCompression peeks at the first bytes of br without consuming them.
// A stream shorter than any magic number (including an empty one) is
// Uncompressed.
func DetectCompression(br *bufio.Reader) (Compression, error) {
	b, err := br.Peek(len(zstdMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return Uncompressed, fmt.Errorf("detect compression: %w", err)
	}
	switch {
	case bytes.HasPrefix(b, zstdMagic):
		return Zstd, nil
	case bytes.HasPrefix(b, gzipMagic):
		return Gzip, nil
	}
	return Uncompressed, nil
}

// Decompress detects the compression of r and returns a reader of the
// uncompressed bytes. Read errors from a truncated or corrupt stream wrap
// errdefs.ErrDataCorrupt as well as the decoder's own error (often
// io.ErrUnexpectedEOF). The caller closes the reader; closing does not close r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	c, err := DetectCompression(br)
	if err != nil {
		return nil, c, err
	}
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, corrupt(c, err)
		}
		return &decompressReader{r: zr, c: c, close: zr.Close}, c, nil
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, c, corrupt(c, err)
		}
		return &decompressReader{r: zr, c: c, close: func() error { zr.Close(); return nil }}, c, nil
	}
	return io.NopCloser(br), c, nil
}

func corrupt(c Compression, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // an empty compressed stream is a truncated one
	}
	return fmt.Errorf("decompress %s: %w: %w", c, errdefs.ErrDataCorrupt, err)
}

type decompressReader struct {
	r     io.Reader
	c     Compression
	close func() error
}

func (d *decompressReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = corrupt(d.c, err)
	}
	return n, err
}

func (d *decompressReader) Close() error { return d.close() }

// Compress returns a writer that compresses into w; Close flushes the
// compressor but does not close w. level 0 means the codec's default level
// (for gzip, a level of 0 would otherwise mean "store"). Gzip is written by
// pgzip on all cores; zstd by klauspost's encoder with a fixed concurrency of
// one, so the same input and level always give the same bytes.
func Compress(w io.Writer, c Compression, level int) (io.WriteCloser, error) {
	switch c {
	case Uncompressed:
		return nopWriteCloser{w}, nil
	case Gzip:
		if level == 0 {
			level = pgzip.DefaultCompression
		}
		zw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("gzip level %d: %w: %w", level, errdefs.ErrInvalidArgument, err)
		}
		return zw, nil
	case Zstd:
		el := zstd.SpeedDefault
		if level != 0 {
			el = zstd.EncoderLevelFromZstd(level)
		}
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(el), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd level %d: %w: %w", level, errdefs.ErrInvalidArgument, err)
		}
		return zw, nil
	}
	return nil, fmt.Errorf("compress: %w: unknown %v", errdefs.ErrInvalidArgument, c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
