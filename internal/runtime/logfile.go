package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// LogEntry is one line of a docker json-file log:
// {"log":"hello\n","stream":"stdout","time":"2026-11-23T16:58:05.123456789Z"}.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// maxLogLine is where a line without a newline is cut into its own entry,
// as docker's 16 KiB.
const maxLogLine = 16 * 1024

// logWriter writes a stream's bytes as json-file entries, one per line.
// It is shared by the stdout and stderr streams; each gets its own
// lineWriter.
type logWriter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func (l *logWriter) write(stream string, line []byte) {
	e := LogEntry{Log: string(line), Stream: stream, Time: l.now().UTC()}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(append(b, '\n'))
}

// lineWriter buffers one stream and hands complete lines to a logWriter.
type lineWriter struct {
	log    *logWriter
	stream string
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log.write(w.stream, w.buf[:i+1])
		w.buf = w.buf[i+1:]
	}
	for len(w.buf) >= maxLogLine {
		w.log.write(w.stream, w.buf[:maxLogLine])
		w.buf = w.buf[maxLogLine:]
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return len(p), nil
}

// Flush writes what is left of a last line without a newline.
func (w *lineWriter) Flush() {
	if len(w.buf) > 0 {
		w.log.write(w.stream, w.buf)
		w.buf = nil
	}
}

// ReadLog calls fn for each entry of a json-file log in r until fn returns
// false or r ends, and returns the bytes of whole lines consumed, so a
// follower can read on from there. A torn last line (still being written)
// is left for the next read.
func ReadLog(r io.Reader, fn func(LogEntry) bool) (int64, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var n int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			n += int64(len(line))
			var e LogEntry
			if jerr := json.Unmarshal(line, &e); jerr != nil {
				return n, fmt.Errorf("read log: %w", jerr)
			}
			if !fn(e) {
				return n, nil
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("read log: %w", err)
		}
	}
}
