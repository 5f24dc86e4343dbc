package errdefs

import (
	"errors"
	"fmt"
	"testing"
)

func TestMessage(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("no such image: x: %w", ErrNotFound), "no such image: x"},
		{fmt.Errorf("tag: %w", fmt.Errorf("bad name: %w", ErrInvalidArgument)), "tag: bad name"},
		{ErrConflict, "conflict"},
		{errors.New("disk on fire"), "disk on fire"},
		{fmt.Errorf("blob: %w (nothing kept)", ErrDataCorrupt), "blob: data corrupt (nothing kept)"},
	}
	for _, tc := range cases {
		if got := Message(tc.err); got != tc.want {
			t.Errorf("Message(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
