package build_test

import (
	"syscall"

	"github.com/strata-project/strata/internal/snapshot"
)

type snapshotInfo = snapshot.Info

func ownerOf(sys any) (uint32, uint32) {
	if st, ok := sys.(*syscall.Stat_t); ok {
		return st.Uid, st.Gid
	}
	return 0, 0
}
