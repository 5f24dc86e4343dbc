package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// noSuchImage turns the engine's not-found into docker's message, which
// clients show as is ("Error response from daemon: No such image: x").
func noSuchImage(name string, err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("No such image: %s: %w", name, errdefs.ErrNotFound)
	}
	return err
}

// filters reads the "filters" query parameter in both of docker's shapes:
// {"dangling":{"true":true}} (current) and {"dangling":["true"]} (old).
func filters(r *http.Request) (map[string][]string, error) {
	raw := r.URL.Query().Get("filters")
	out := map[string][]string{}
	if raw == "" {
		return out, nil
	}
	var current map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &current); err == nil {
		for k, vs := range current {
			for v, on := range vs {
				if on {
					out[k] = append(out[k], v)
				}
			}
		}
		return out, nil
	}
	var old map[string][]string
	if err := json.Unmarshal([]byte(raw), &old); err != nil {
		return nil, fmt.Errorf("invalid filters %q: %v: %w", raw, err, errdefs.ErrInvalidArgument)
	}
	return old, nil
}

// GET /images/json: one summary per image (not per name, as the CLI's
// table is), with docker's filters dangling= and reference=.
func (s *Server) listImages(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := filters(r)
	if err != nil {
		return err
	}
	for k := range f {
		if k != "dangling" && k != "reference" && k != "label" {
			return fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	rows, err := s.eng.ListImages(ctx)
	if err != nil {
		return err
	}
	byID := map[string]*image.Summary{}
	var order []string
	for _, row := range rows {
		id := row.ID.String()
		sum, ok := byID[id]
		if !ok {
			sum = &image.Summary{ID: id, Created: row.Created.Unix(), Size: row.Size, Containers: -1, SharedSize: -1, RepoTags: []string{}, RepoDigests: []string{}, Labels: map[string]string{}}
			byID[id] = sum
			order = append(order, id)
		}
		if row.Repository != "<none>" {
			sum.RepoTags = append(sum.RepoTags, row.Repository+":"+row.Tag)
		}
	}
	out := []image.Summary{}
	for _, id := range order {
		sum := byID[id]
		insp, err := s.eng.InspectImage(ctx, id)
		if err != nil {
			continue // removed meanwhile
		}
		sum.RepoDigests = append(sum.RepoDigests, insp.RepoDigests...)
		for k, v := range insp.Config.Labels {
			sum.Labels[k] = v
		}
		if !matchImage(f, sum) {
			continue
		}
		out = append(out, *sum)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return writeJSON(w, http.StatusOK, out)
}

func matchImage(f map[string][]string, sum *image.Summary) bool {
	for _, v := range f["dangling"] {
		if (v == "true" || v == "1") != (len(sum.RepoTags) == 0) {
			return false
		}
	}
	if pats := f["reference"]; len(pats) > 0 {
		hit := false
		for _, p := range pats {
			for _, t := range sum.RepoTags {
				if engine.MatchReference(p, t) {
					hit = true
				}
			}
		}
		if !hit {
			return false
		}
	}
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := sum.Labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}

func (s *Server) inspectImage(w http.ResponseWriter, r *http.Request, name string) error {
	insp, err := s.eng.InspectImage(r.Context(), name)
	if err != nil {
		return noSuchImage(name, err)
	}
	return writeJSON(w, http.StatusOK, insp)
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) error {
	rows, err := s.eng.History(r.Context(), name)
	if err != nil {
		return noSuchImage(name, err)
	}
	out := make([]image.HistoryResponseItem, 0, len(rows))
	for i, row := range rows {
		item := image.HistoryResponseItem{ID: row.ID, Created: row.Created.Unix(), CreatedBy: row.CreatedBy, Size: row.Size, Comment: row.Comment, Tags: []string{}}
		if i > 0 || row.ID == "" {
			item.ID = "<missing>"
		}
		out = append(out, item)
	}
	return writeJSON(w, http.StatusOK, out)
}

// POST /images/{name}/tag?repo=R&tag=T
func (s *Server) tagImage(w http.ResponseWriter, r *http.Request, name string) error {
	repo, tag := r.URL.Query().Get("repo"), r.URL.Query().Get("tag")
	if repo == "" {
		return fmt.Errorf("repository name (repo) is required: %w", errdefs.ErrInvalidArgument)
	}
	target := repo
	if tag != "" {
		target += ":" + tag
	}
	if err := s.eng.Tag(r.Context(), name, target); err != nil {
		return noSuchImage(name, err)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// DELETE /images/{name}?force=1
func (s *Server) removeImage(w http.ResponseWriter, r *http.Request, name string) error {
	res, err := s.eng.RemoveImage(r.Context(), name, boolParam(r, "force"))
	if err != nil {
		return noSuchImage(name, err)
	}
	out := []image.DeleteResponse{}
	for _, u := range res.Untagged {
		out = append(out, image.DeleteResponse{Untagged: u})
	}
	for _, d := range res.Deleted {
		out = append(out, image.DeleteResponse{Deleted: d.String()})
	}
	return writeJSON(w, http.StatusOK, out)
}

// POST /images/prune: untagged images (all unused ones with
// dangling=false), then garbage.
func (s *Server) pruneImages(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	// dangling=false (prune -a), until=, label=, label!=: the engine's
	// reading of them, the CLI's too.
	ids, rep, err := s.eng.PruneImages(r.Context(), false, engine.Filters(f))
	if err != nil {
		return err
	}
	out := image.PruneReport{ImagesDeleted: []image.DeleteResponse{}, SpaceReclaimed: uint64(rep.BlobBytes + rep.SnapshotBytes)}
	for _, id := range ids {
		out.ImagesDeleted = append(out.ImagesDeleted, image.DeleteResponse{Deleted: id.String()})
	}
	return writeJSON(w, http.StatusOK, out)
}

// registryAuth decodes X-Registry-Auth: base64url JSON of an AuthConfig;
// "e30=" ({}) and absence mean the stored credentials.
func registryAuth(r *http.Request) (engine.RegistryAuth, error) {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return engine.RegistryAuth{}, nil
	}
	raw, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(h); err != nil {
			if raw, err = base64.StdEncoding.DecodeString(h); err != nil {
				return engine.RegistryAuth{}, fmt.Errorf("X-Registry-Auth is not base64: %w", errdefs.ErrInvalidArgument)
			}
		}
	}
	var cfg registry.AuthConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return engine.RegistryAuth{}, fmt.Errorf("X-Registry-Auth is not an auth config: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if cfg.Auth != "" && cfg.Username == "" {
		if b, err := base64.StdEncoding.DecodeString(cfg.Auth); err == nil {
			cfg.Username, cfg.Password, _ = strings.Cut(string(b), ":")
		}
	}
	return engine.RegistryAuth{Username: cfg.Username, Password: cfg.Password, IdentityToken: cfg.IdentityToken}, nil
}

// POST /images/create?fromImage=NAME&tag=TAG: pull, streaming docker's
// progress messages; with fromSrc, import (importImage).
func (s *Server) createImage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Has("fromSrc") {
		return s.importImage(w, r)
	}
	ref := q.Get("fromImage")
	if ref == "" {
		return fmt.Errorf("fromImage is required: %w", errdefs.ErrInvalidArgument)
	}
	if tag := q.Get("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	auth, err := registryAuth(r)
	if err != nil {
		return err
	}
	st := newStream(w)
	_, err = s.eng.Pull(r.Context(), ref, engine.PullOptions{Platform: q.Get("platform"), Progress: st.reporter(), Client: s.eng.RegistryClient(auth)})
	if err != nil {
		return st.fail(err)
	}
	st.start()
	return nil
}

// POST /images/{name}/push?tag=TAG
func (s *Server) pushImage(w http.ResponseWriter, r *http.Request, name string) error {
	ref := name
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	auth, err := registryAuth(r)
	if err != nil {
		return err
	}
	if _, err := s.eng.ResolveImage(r.Context(), ref); err != nil {
		return noSuchImage(ref, err)
	}
	st := newStream(w)
	desc, err := s.eng.Push(r.Context(), ref, engine.PushOptions{All: r.URL.Query().Get("tag") == "" && !strings.Contains(name, ":"), Progress: st.reporter(), Client: s.eng.RegistryClient(auth)})
	if err != nil {
		return st.fail(err)
	}
	aux, _ := json.Marshal(map[string]any{"Tag": r.URL.Query().Get("tag"), "Digest": desc.Digest.String(), "Size": desc.Size})
	raw := json.RawMessage(aux)
	st.write(message{Message: jsonstream.Message{Aux: &raw}})
	return nil
}

// GET /images/{name}/get and /images/get?names=a&names=b: docker save.
func (s *Server) saveImage(w http.ResponseWriter, r *http.Request, name string) error {
	return s.save(w, r, []string{name})
}

func (s *Server) saveImages(w http.ResponseWriter, r *http.Request) error {
	names := r.URL.Query()["names"]
	if len(names) == 0 {
		return fmt.Errorf("names is required: %w", errdefs.ErrInvalidArgument)
	}
	return s.save(w, r, names)
}

func (s *Server) save(w http.ResponseWriter, r *http.Request, names []string) error {
	for _, n := range names {
		if _, err := s.eng.ResolveImage(r.Context(), n); err != nil {
			return noSuchImage(n, err)
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	// Once bytes flow the status is sent: a failure now cuts the tar short,
	// which every client reports as a truncated archive.
	return s.eng.Save(r.Context(), w, names)
}

// POST /images/load?quiet=0|1: docker load, with per-layer progress
// unless quiet, then a "Loaded image: NAME" line per image.
func (s *Server) loadImages(w http.ResponseWriter, r *http.Request) error {
	st := newStream(w)
	opts := engine.LoadOptions{Input: "-", Stdin: r.Body}
	if !boolParam(r, "quiet") {
		opts.Progress = st.reporter()
	}
	names, err := s.eng.Load(r.Context(), opts)
	if err != nil {
		return st.fail(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "sha256:") {
			st.stdout("Loaded image ID: " + n + "\n")
		} else {
			st.stdout("Loaded image: " + n + "\n")
		}
	}
	st.start()
	return nil
}

func (s *Server) searchImages(w http.ResponseWriter, r *http.Request) error {
	return fmt.Errorf("search is not supported: Strata has no default registry to search; list a registry's repositories with its /v2/_catalog: %w", errdefs.ErrNotImplemented)
}

// POST /images/create?fromSrc=-&repo=&tag=&message=&changes=: docker
// import of the request body (a root filesystem tar, any compression).
// Only "-" is served: fetching a URL is left to the client.
func (s *Server) importImage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if src := q.Get("fromSrc"); src != "-" {
		return fmt.Errorf("import from %q is not supported: Strata imports the request body only (fromSrc=-); download the file and send it: %w", src, errdefs.ErrInvalidArgument)
	}
	ref := q.Get("repo")
	if tag := q.Get("tag"); ref != "" && tag != "" {
		ref += ":" + tag
	}
	st := newStream(w)
	id, err := s.eng.Import(r.Context(), engine.ImportOptions{Source: "-", Stdin: r.Body, Ref: ref, Changes: q["changes"], Message: q.Get("message")})
	if err != nil {
		return st.fail(err)
	}
	st.write(message{Message: jsonstream.Message{Status: id.String()}})
	return nil
}
