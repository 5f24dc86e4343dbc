package remote

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
)

// maxErrorBody caps how much of an error response is read.
const maxErrorBody = 64 << 10

// Error is a registry's answer that was not what was asked for. It wraps
// the errdefs kind of its status (ErrUnauthorized, ErrDenied, ErrNotFound,
// ErrUnavailable…) for errors.Is.
type Error struct {
	Host       string
	StatusCode int
	// Code and Message are the first of the distribution-spec error body's
	// "errors", when it had one.
	Code, Message string
	// Hint says what to do about it.
	Hint string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		b.WriteString("unauthorized")
	case e.StatusCode == http.StatusForbidden:
		b.WriteString("denied")
	case e.Code != "":
		b.WriteString(strings.ToLower(strings.ReplaceAll(e.Code, "_", " ")))
	default:
		fmt.Fprintf(&b, "%s answered %d %s", e.Host, e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Message != "" && !strings.EqualFold(e.Message, b.String()) {
		b.WriteString(": " + e.Message)
	}
	if e.Hint != "" {
		b.WriteString(": " + e.Hint)
	}
	return b.String()
}

// Unwrap gives the errdefs kind of the status.
func (e *Error) Unwrap() error {
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return errdefs.ErrUnauthorized
	case e.StatusCode == http.StatusForbidden:
		return errdefs.ErrDenied
	case e.StatusCode == http.StatusNotFound:
		return errdefs.ErrNotFound
	case e.StatusCode == http.StatusConflict:
		return errdefs.ErrConflict
	case e.StatusCode == http.StatusRequestedRangeNotSatisfiable, e.StatusCode == http.StatusBadRequest:
		return errdefs.ErrInvalidArgument
	case e.StatusCode == http.StatusNotImplemented, e.StatusCode == http.StatusMethodNotAllowed:
		return errdefs.ErrNotImplemented
	case e.StatusCode >= 500, e.StatusCode == http.StatusTooManyRequests:
		return errdefs.ErrUnavailable
	}
	return errdefs.ErrFailedPrecondition
}

func loginHint(host string) string { return fmt.Sprintf("run \"strata login %s\" first", host) }

// responseError reads (at most 64 KiB of) resp's body into an *Error and
// closes it.
func responseError(host string, resp *http.Response) error {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Host: host, StatusCode: resp.StatusCode}
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &body) == nil && len(body.Errors) > 0 {
		e.Code, e.Message = body.Errors[0].Code, body.Errors[0].Message
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Message = ""
		e.Hint = loginHint(host)
	}
	if resp.StatusCode == http.StatusForbidden && e.Message == "" {
		e.Message = "the registry refused access to this repository"
	}
	return e
}
