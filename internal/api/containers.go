package api

import (
	"fmt"
	"net/http"

	"github.com/strata-project/strata/internal/errdefs"
)

// GET /containers/{name}/json. docker inspect asks for a container first
// and then an image, so this answers even before the rest of the container
// endpoints are served.
func (s *Server) inspectContainer(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.InspectContainer(r.Context(), name)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("No such container: %s: %w", name, errdefs.ErrNotFound)
		}
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}
