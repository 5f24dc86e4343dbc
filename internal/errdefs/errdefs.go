// Package errdefs defines the kinds of error Strata's packages return, so
// callers can tell them apart with errors.Is whatever wrapping they carry.
//
// A package wraps a kind with its own context:
//
//	return fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
//
// and the CLI, the registry's error table and the tests test the kind with
// errors.Is. Details (digests, file and line) ride in typed errors that wrap
// one of these kinds.
package errdefs

import (
	"errors"
	"strings"
)

var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrUnauthorized       = errors.New("unauthorized")
	ErrDenied             = errors.New("denied")
	ErrConflict           = errors.New("conflict")
	ErrUnavailable        = errors.New("unavailable")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrNotImplemented     = errors.New("not implemented")
	ErrDataCorrupt        = errors.New("data corrupt")
)

// IsNotFound reports whether err is of kind ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsAlreadyExists reports whether err is of kind ErrAlreadyExists.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsInvalidArgument reports whether err is of kind ErrInvalidArgument.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsConflict reports whether err is of kind ErrConflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

var kinds = []error{ErrNotFound, ErrAlreadyExists, ErrInvalidArgument, ErrUnauthorized, ErrDenied,
	ErrConflict, ErrUnavailable, ErrFailedPrecondition, ErrNotImplemented, ErrDataCorrupt}

// Message is err's text for a person: the kind a package wrapped at the
// end for errors.Is ("...: invalid argument") is dropped when the message
// before it already says what went wrong.
func Message(err error) string {
	msg := err.Error()
	for _, k := range kinds {
		suffix := ": " + k.Error()
		if strings.HasSuffix(msg, suffix) && len(msg) > len(suffix) {
			return strings.TrimSuffix(msg, suffix)
		}
	}
	return msg
}
