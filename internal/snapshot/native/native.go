package native

import (
	"context"
	"fmt"
	"os"

	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/storage"
)

// Snapshotter is the native snapshotter. Its methods are storage's.
type Snapshotter struct {
	*storage.Snapshotter
}

// New opens or creates a native snapshotter in root.
func New(root string) (*Snapshotter, error) {
	s, err := storage.New(root, driver{})
	if err != nil {
		return nil, fmt.Errorf("open native snapshotter: %w", err)
	}
	return &Snapshotter{s}, nil
}

type driver struct{}

func (driver) Populate(ctx context.Context, s storage.Snapshot) error {
	if s.Kind != snapshot.KindActive || len(s.Parents) == 0 {
		return os.Mkdir(s.FS(), 0o755)
	}
	if err := copyTree(ctx, s.Parents[0], s.FS()); err != nil {
		return fmt.Errorf("copy parent: %w", err)
	}
	return nil
}

func (driver) Mounts(s storage.Snapshot) []mount.Mount {
	if s.Kind == snapshot.KindActive {
		return []mount.Mount{{Type: "bind", Source: s.FS(), Options: []string{"rbind", "rw"}}}
	}
	src := s.FS()
	if len(s.Parents) > 0 {
		src = s.Parents[0]
	}
	return []mount.Mount{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}
}

func (driver) ParentDirs(s storage.Snapshot) []string {
	if len(s.Parents) == 0 {
		return nil
	}
	return s.Parents[:1]
}
