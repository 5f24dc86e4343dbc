package filepool

import (
	"bytes"
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// Comparing a file's bytes with a pool entry's before linking one for the
// other. The content digest in a pool key is XXH3 (ContentHash), which
// anyone can make collide: a layer could carry a file with the digest and
// metadata of another image's /bin/sh, and without a compare the second
// image would get the first's file. A compare costs a read of both files
// where they share, which is where the pool saves the write of one: the
// files of an image pulled twice are in the page cache, and a file written
// just before it is compared. Where they do not share (most files of a
// first pull), the entry is made without any compare.

// sameContent tells whether the file at path (a link to a pool entry)
// and the file dirfd/name, both of size bytes, have the same bytes.
func sameContent(path string, dirfd int, name string, size int64) (bool, error) {
	a, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(a)
	b, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(b)
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	for off := int64(0); off < size; {
		chunk := (*buf)[:min(int64(len(*buf)), size-off)]
		if err := preadFull(a, chunk, off); err != nil {
			return false, shorter(err)
		}
		if same, err := sameAt(b, chunk, off); err != nil || !same {
			return false, err
		}
		off += int64(len(chunk))
	}
	return true, nil
}

// sameBytes tells whether the file open as fd, whose size is
// len(content), holds content.
func sameBytes(fd int, content []byte) (bool, error) { return sameAt(fd, content, 0) }

// sameAt tells whether the file open as fd holds want at off.
func sameAt(fd int, want []byte, off int64) (bool, error) {
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	for len(want) > 0 {
		got := (*buf)[:min(len(*buf), len(want))]
		if err := preadFull(fd, got, off); err != nil {
			return false, shorter(err)
		}
		if !bytes.Equal(got, want[:len(got)]) {
			return false, nil
		}
		want, off = want[len(got):], off+int64(len(got))
	}
	return true, nil
}

// preadFull reads len(b) bytes of fd at off; a file shorter than that is
// io.ErrUnexpectedEOF.
func preadFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pread(fd, b, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// shorter makes a file found shorter than its size a difference, not an
// error.
func shorter(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}
