package testutil

import (
	"net"
	"testing"
	"time"
)

// Patience is how long a test waits for what should happen promptly (a
// server listening, a process ending, a log line, a state changing). It is
// generous because the tests share a loaded machine (load 20-30 while
// several suites run): a wait that gives up early fails for nothing, and
// one that succeeds returns as soon as the condition holds.
const Patience = time.Minute

// Poll calls cond until it returns true, and reports whether it did before
// within passed (cond gets one last call at the deadline). The pause
// between calls grows from 10 ms to 50 ms: a condition about to hold is
// seen within milliseconds, and a long wait does not spin (nor, when cond
// sends input, flood what it types into). cond runs on the caller's
// goroutine, so it may call t.Fatal (a server that exited, say).
func Poll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}

// WaitFor polls cond for up to Patience and fails t, naming what it waited
// for, if cond never holds. Callers that have more to say on a failure (a
// log, the last value seen) call Poll instead.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(Patience, cond) {
		t.Fatalf("timed out after %v waiting for %s", Patience, what)
	}
}

// Accepts reports whether something accepts TCP connections at addr
// (host:port): the event a test waits for after starting a server.
func Accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
