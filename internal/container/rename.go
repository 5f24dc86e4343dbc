package container

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
)

// Rename gives the container ref the name newName, as docker rename does:
// the new name is claimed first (refused if another container holds it),
// then the record is saved, then the old name is let go. A crash between
// the steps leaves the container reachable under one of its names: a name
// link whose record says otherwise is taken over by the next claim. The
// hostname inside a container made with the old name stays, as docker's.
func (s *Store) Rename(ctx context.Context, ref, newName string) error {
	newName = strings.TrimPrefix(newName, "/")
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	if newName == c.Name {
		return fmt.Errorf("renaming a container with the same name as its current name: %w", errdefs.ErrInvalidArgument)
	}
	if err := s.claimName(newName, c.ID); err != nil {
		return err
	}
	old := c.Name
	c.Name = newName
	if err := s.save(c); err != nil {
		_ = os.Remove(s.nameLink(newName))
		return err
	}
	if link, err := os.Readlink(s.nameLink(old)); err == nil && link == c.ID {
		_ = os.Remove(s.nameLink(old))
	}
	s.event(c, "rename", map[string]string{"oldName": "/" + old})
	return nil
}
