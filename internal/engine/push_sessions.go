package engine

import (
	"path/filepath"
	"time"

	"github.com/strata-project/strata/internal/remote"
)

// pushSessionsDir, under the root, holds the upload sessions of pushes
// (remote.DirSessions): a push cut short continues its uploads from them.
const pushSessionsDir = "push-sessions"

// stalePushSession is how long the session of a cut push is kept for a
// later push to resume; garbage collection removes older ones, as it does
// ingests of cut pulls.
const stalePushSession = 24 * time.Hour

func (e *Engine) pushSessions() remote.DirSessions {
	return remote.DirSessions(filepath.Join(e.root, pushSessionsDir))
}
