package testutil

import (
	"strings"
	"sync"
)

// SyncBuffer is an io.Writer a test reads (String) while other goroutines
// write to it: a build's progress, a server's access log.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
