package runtime

import (
	"fmt"
	"os"
	"time"
)

// traceTo is $STRATA_TRACE: when set, Tracef appends timestamps to that
// file (or to stderr for "1"), to see where a container's start-up goes.
var traceTo = os.Getenv("STRATA_TRACE")

// Tracef appends the wall clock (µs), the pid and the message to
// $STRATA_TRACE when it is set, else does nothing.
func Tracef(format string, args ...any) {
	if traceTo == "" {
		return
	}
	line := fmt.Sprintf("trace %d %d %s\n", time.Now().UnixMicro(), os.Getpid(), fmt.Sprintf(format, args...))
	if traceTo == "1" {
		_, _ = os.Stderr.WriteString(line)
		return
	}
	f, err := os.OpenFile(traceTo, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	_, _ = f.WriteString(line)
	f.Close()
}
