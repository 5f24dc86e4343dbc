package registry

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// logWriter records what a handler sent. It passes ReadFrom through so that
// blob GETs keep using sendfile(2) with access logging on.
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (l *logWriter) WriteHeader(code int) {
	if l.status == 0 {
		l.status = code
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *logWriter) Write(p []byte) (int, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	n, err := l.ResponseWriter.Write(p)
	l.bytes += int64(n)
	return n, err
}

func (l *logWriter) ReadFrom(r io.Reader) (int64, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := l.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{l.ResponseWriter}, r)
	}
	l.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (l *logWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }

var logMu sync.Mutex

// logRequest writes one access log line:
//
//	2026-11-23T17:01:02.123Z 127.0.0.1:5123 user=- GET repo=app status=200 bytes=1234 dur=1.2ms path=/v2/app/manifests/v1
//
// with the error of a failed request appended (5xx details live only here).
func (g *Registry) logRequest(l *logWriter, r *http.Request, rt route, user string, d time.Duration, err error) {
	if user == "" {
		user = "-"
	}
	repo := rt.Name
	if repo == "" {
		repo = "-"
	}
	status := l.status
	if status == 0 {
		status = http.StatusOK
	}
	line := fmt.Sprintf("%s %s user=%s %s repo=%s status=%d bytes=%d dur=%s path=%s",
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), r.RemoteAddr, strconv.Quote(user), r.Method, repo, status, l.bytes, d.Round(time.Microsecond), strconv.Quote(r.URL.RequestURI()))
	if err != nil {
		line += " err=" + strconv.Quote(err.Error())
	}
	logMu.Lock()
	defer logMu.Unlock()
	io.WriteString(g.opts.AccessLog, line+"\n")
}
