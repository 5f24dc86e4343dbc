package layer

import (
	"errors"
	"io"
	"sync"
)

// readahead reads r in its own goroutine, up to n chunks of size bytes
// ahead of the consumer, so that decompressing a layer (the goroutine) and
// hashing and unpacking it (the caller) use two cores. It owns r: r is
// closed by the goroutine when it ends, which Close asks for without
// waiting (it may be blocked in r.Read until r's own source ends).
type readahead struct {
	filled chan []byte
	free   chan []byte
	stop   chan struct{}
	done   chan struct{} // closed when the goroutine has ended
	once   sync.Once
	cur    []byte // unread part of the chunk being read
	chunk  []byte // the whole chunk cur is part of
	err    error  // the goroutine's last error, read after filled closes
}

func newReadahead(r io.ReadCloser, n, size int) *readahead {
	ra := &readahead{filled: make(chan []byte, n), free: make(chan []byte, n+1), stop: make(chan struct{}), done: make(chan struct{})}
	for i := 0; i < n+1; i++ {
		ra.free <- make([]byte, size)
	}
	go func() {
		defer close(ra.done)
		defer r.Close()
		defer close(ra.filled)
		for {
			var buf []byte
			select {
			case buf = <-ra.free:
			case <-ra.stop:
				return
			}
			k, err := io.ReadFull(r, buf)
			if k > 0 {
				select {
				case ra.filled <- buf[:k]:
				case <-ra.stop:
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) && k > 0 {
					err = io.EOF // a short last chunk
				}
				ra.err = err
				return
			}
		}
	}()
	return ra
}

func (ra *readahead) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(ra.cur) == 0 {
		if ra.chunk != nil {
			ra.free <- ra.chunk[:cap(ra.chunk)]
			ra.chunk = nil
		}
		b, ok := <-ra.filled
		if !ok {
			return 0, ra.err
		}
		ra.chunk, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close tells the goroutine to stop; it closes the source when it does.
func (ra *readahead) Close() error {
	ra.once.Do(func() { close(ra.stop) })
	return nil
}

// stopWait stops the goroutine and waits until it has ended and closed the
// source, for a caller that reads the source's source next.
func (ra *readahead) stopWait() {
	ra.Close()
	<-ra.done
}

// chunkPipe is an in-memory pipe that buffers up to n chunks, so that the
// writer (a download or an archive read, writing the blob's ingest too)
// does not wait for the reader (the decompressor) chunk by chunk, as it
// would with io.Pipe. Write copies p. The reader sees the writer's
// CloseWithError as its error after the buffered chunks; Write after the
// reader closed (CloseRead) fails with io.ErrClosedPipe.
type chunkPipe struct {
	filled chan []byte
	free   chan []byte
	done   chan struct{} // closed by CloseRead
	once   sync.Once
	err    error // the writer's, read after filled closes
	cur    []byte
	chunk  []byte
}

func newChunkPipe(n, size int) *chunkPipe {
	p := &chunkPipe{filled: make(chan []byte, n), free: make(chan []byte, n+1), done: make(chan struct{})}
	for i := 0; i < n+1; i++ {
		p.free <- make([]byte, 0, size)
	}
	return p
}

func (p *chunkPipe) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		var buf []byte
		select {
		case buf = <-p.free:
		case <-p.done:
			return written, io.ErrClosedPipe
		}
		k := copy(buf[:cap(buf)], b)
		select {
		case p.filled <- buf[:k]:
		case <-p.done:
			return written, io.ErrClosedPipe
		}
		b, written = b[k:], written+k
	}
	return written, nil
}

// CloseWithError ends the stream for the reader: io.EOF when err is nil.
// The writer calls it once, after its last Write.
func (p *chunkPipe) CloseWithError(err error) {
	if err == nil {
		err = io.EOF
	}
	p.err = err
	close(p.filled)
}

func (p *chunkPipe) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(p.cur) == 0 {
		if p.chunk != nil {
			p.free <- p.chunk[:0]
			p.chunk = nil
		}
		buf, ok := <-p.filled
		if !ok {
			return 0, p.err
		}
		p.chunk, p.cur = buf, buf
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// CloseRead tells the writer the reader has stopped.
func (p *chunkPipe) CloseRead() {
	p.once.Do(func() { close(p.done) })
}
