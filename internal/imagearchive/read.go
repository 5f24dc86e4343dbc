package imagearchive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/verify"
)

// Image is one image found in an archive, its JSON read and verified and
// its layers known to be present (but not yet read).
type Image struct {
	// Names are normalized tagged names to give the image; none leaves it
	// untagged.
	Names []string
	// ManifestBytes and ManifestDesc are the manifest as it came in an OCI
	// layout; ManifestBytes is nil for an image known only from docker's
	// manifest.json, for which the loader makes a manifest.
	ManifestBytes []byte
	ManifestDesc  ocispec.Descriptor
	ConfigBytes   []byte
	ConfigDesc    ocispec.Descriptor
	Config        ocispec.Image
	Layers        []Layer
}

// Layer is a layer file of an archive.
type Layer struct {
	Path string // inside the archive, clean
	// Desc is the layer's descriptor from an OCI manifest. For docker's
	// manifest.json it has Size, and Digest only when the file is named by
	// its digest (blobs/sha256/<hex>); MediaType is then empty and the
	// compression is found from the bytes.
	Desc   ocispec.Descriptor
	DiffID digest.Digest // from the config: what the uncompressed tar hashes to
}

// Archive is an image archive open for reading.
type Archive struct {
	files files
}

// Open opens a docker save archive (old or new format) or an OCI layout
// (a directory or a tar), plain or compressed. A plain tar file is read in
// place; a compressed one, or standard input when input is "" or "-", is
// read as a stream when its JSON comes first (as Write puts it), else first
// decompressed into a temp file in spoolDir; Close removes temp files,
// and Open those of earlier loads whose process died.
func Open(ctx context.Context, input string, stdin io.Reader, spoolDir string) (*Archive, error) {
	removeDeadSpools(spoolDir)
	f, err := openFiles(ctx, input, stdin, spoolDir)
	if err != nil {
		return nil, err
	}
	return &Archive{files: f}, nil
}

// Close releases the archive and removes any spooled copy.
func (a *Archive) Close() error { return a.files.Close() }

// OpenLayer returns the raw bytes of a layer file and their size,
// unverified: the caller checks them against l.Desc and l.DiffID as it
// reads.
func (a *Archive) OpenLayer(l Layer) (io.ReadCloser, int64, error) {
	rc, size, err := a.files.Open(l.Path)
	if err != nil {
		return nil, 0, err
	}
	if l.Desc.Size > 0 && size != l.Desc.Size {
		rc.Close()
		return nil, 0, fmt.Errorf("%s: %d bytes, but its descriptor says %d: %w", l.Path, size, l.Desc.Size, errdefs.ErrDataCorrupt)
	}
	return rc, size, nil
}

// readJSON reads a small file through the manifest.MaxSize cap and, when
// want is set, verifies its digest.
func (a *Archive) readJSON(name string, want digest.Digest) ([]byte, error) {
	rc, size, err := a.files.Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > manifest.MaxSize {
		return nil, fmt.Errorf("%s: %d bytes is over the %d byte limit for JSON: %w", name, size, manifest.MaxSize, errdefs.ErrInvalidArgument)
	}
	b, err := io.ReadAll(io.LimitReader(rc, manifest.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if want != "" {
		if err := want.Validate(); err != nil {
			return nil, fmt.Errorf("%s: digest %q: %v: %w", name, want, err, errdefs.ErrInvalidArgument)
		}
		if got := want.Algorithm().FromBytes(b); got != want {
			return nil, fmt.Errorf("%s: %w", name, &verify.MismatchError{Want: want, Got: got, WantSize: -1})
		}
	}
	return b, nil
}

// Images reads the archive's index.json (if it is an OCI layout) or its
// manifest.json (a docker save archive) and every manifest and config they
// name, verifying each digest, and checks that every layer file is there.
// An archive that is both (as Write makes) is read as an OCI layout, with
// names from manifest.json's RepoTags where index.json has none.
func (a *Archive) Images(ctx context.Context) ([]Image, error) {
	if s, ok := a.files.(*streamFiles); ok && s.planning {
		if s.Has("index.json") {
			imgs, err := a.images(ctx)
			if err == nil {
				s.plan(imgs)
				return imgs, nil
			}
			if !errors.Is(err, errNotInHead) {
				return nil, err
			}
		}
		// Not in Write's order: read it as a file.
		t, err := s.spoolAll()
		s.Close()
		if err != nil {
			return nil, err
		}
		a.files = t
	}
	return a.images(ctx)
}

func (a *Archive) images(ctx context.Context) ([]Image, error) {
	hasIndex, hasDocker := a.files.Has("index.json"), a.files.Has("manifest.json")
	var dms []dockerManifest
	if hasDocker {
		b, err := a.readJSON("manifest.json", "")
		if err != nil {
			return nil, err
		}
		if dms, err = decodeDockerManifest(b); err != nil {
			return nil, err
		}
	}
	switch {
	case hasIndex:
		return a.ociImages(ctx, dms)
	case hasDocker:
		return a.dockerImages(ctx, dms)
	}
	return nil, fmt.Errorf("neither manifest.json (docker save) nor index.json (OCI layout) is in the archive; archives of docker before 1.10 are not supported: %w", errdefs.ErrInvalidArgument)
}

func decodeDockerManifest(b []byte) ([]dockerManifest, error) {
	var dms []dockerManifest
	if err := json.Unmarshal(b, &dms); err != nil {
		return nil, fmt.Errorf("manifest.json is not valid JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(dms) == 0 {
		return nil, fmt.Errorf("manifest.json lists no images: %w", errdefs.ErrInvalidArgument)
	}
	return dms, nil
}

// digestFromPath recovers the digest a file is named by: blobs/ALG/HEX
// (docker 25+, OCI) or HEX.json (docker's old config files).
func digestFromPath(p string) digest.Digest {
	dir, base := path.Split(p)
	if strings.HasPrefix(dir, "blobs/") && strings.Count(dir, "/") == 2 {
		d := digest.NewDigestFromEncoded(digest.Algorithm(strings.TrimSuffix(strings.TrimPrefix(dir, "blobs/"), "/")), base)
		if d.Validate() == nil {
			return d
		}
	}
	if dir == "" && strings.HasSuffix(base, ".json") {
		d := digest.NewDigestFromEncoded(digest.SHA256, strings.TrimSuffix(base, ".json"))
		if d.Validate() == nil {
			return d
		}
	}
	return ""
}

func parseNames(where string, tags []string) ([]string, error) {
	var out []string
	for _, t := range tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, fmt.Errorf("%s: image name %q: %v: %w", where, t, err, errdefs.ErrInvalidArgument)
		}
		tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
		if !ok {
			return nil, fmt.Errorf("%s: image name %q has no tag: %w", where, t, errdefs.ErrInvalidArgument)
		}
		if _, dig := named.(reference.Digested); dig {
			return nil, fmt.Errorf("%s: image name %q has a digest: %w", where, t, errdefs.ErrInvalidArgument)
		}
		out = append(out, tagged.String())
	}
	return out, nil
}

func (a *Archive) config(where, p string, want digest.Digest) ([]byte, ocispec.Image, error) {
	b, err := a.readJSON(p, want)
	if err != nil {
		return nil, ocispec.Image{}, fmt.Errorf("%s: config: %w", where, err)
	}
	cfg, err := manifest.DecodeConfig(b)
	if err != nil {
		return nil, cfg, fmt.Errorf("%s: config %s: %w", where, p, err)
	}
	return b, cfg, nil
}

func (a *Archive) dockerImages(ctx context.Context, dms []dockerManifest) ([]Image, error) {
	var out []Image
	for i, dm := range dms {
		where := fmt.Sprintf("manifest.json entry %d", i)
		names, err := parseNames(where, dm.RepoTags)
		if err != nil {
			return nil, err
		}
		cfgPath, err := cleanName(dm.Config)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		b, cfg, err := a.config(where, cfgPath, digestFromPath(cfgPath))
		if err != nil {
			return nil, err
		}
		if len(cfg.RootFS.DiffIDs) != len(dm.Layers) {
			return nil, fmt.Errorf("%s lists %d layers but its config %s has %d diff_ids: %w",
				where, len(dm.Layers), cfgPath, len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
		}
		img := Image{
			Names:       names,
			ConfigBytes: b,
			ConfigDesc:  ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(b), Size: int64(len(b))},
			Config:      cfg,
		}
		for j, lp := range dm.Layers {
			p, err := cleanName(lp)
			if err != nil {
				return nil, fmt.Errorf("%s: layer %d: %w", where, j, err)
			}
			size, err := a.files.Size(p)
			if err != nil {
				return nil, fmt.Errorf("%s: layer %d: %w", where, j, err)
			}
			if size < 0 {
				size = 0 // not known until the stream reaches it
			}
			img.Layers = append(img.Layers, Layer{Path: p, Desc: ocispec.Descriptor{Digest: digestFromPath(p), Size: size}, DiffID: cfg.RootFS.DiffIDs[j]})
		}
		out = append(out, img)
	}
	return out, nil
}

func (a *Archive) ociImages(ctx context.Context, dms []dockerManifest) ([]Image, error) {
	if a.files.Has("oci-layout") {
		b, err := a.readJSON("oci-layout", "")
		if err != nil {
			return nil, err
		}
		var l ocispec.ImageLayout
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("oci-layout is not valid JSON: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if l.Version != ocispec.ImageLayoutVersion {
			return nil, fmt.Errorf("oci-layout version %q, want %q: %w", l.Version, ocispec.ImageLayoutVersion, errdefs.ErrInvalidArgument)
		}
	}
	b, err := a.readJSON("index.json", "")
	if err != nil {
		return nil, err
	}
	idx, err := manifest.DecodeIndex(b)
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	// RepoTags of manifest.json, by config, for manifests index.json leaves
	// unnamed.
	tagsByConfig := map[digest.Digest][]string{}
	for _, dm := range dms {
		if d := digestFromPath(path.Clean(dm.Config)); d != "" {
			tagsByConfig[d] = append(tagsByConfig[d], dm.RepoTags...)
		}
	}
	var out []Image
	byManifest := map[digest.Digest]int{}
	for i, d := range idx.Manifests {
		where := fmt.Sprintf("index.json manifest %d (%s)", i, d.Digest)
		names, err := ociNames(where, d.Annotations)
		if err != nil {
			return nil, err
		}
		if manifest.IsIndex(d.MediaType) {
			ib, err := a.blob(d)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			inner, err := manifest.DecodeIndex(ib)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if d, err = manifest.SelectPlatform(inner, manifest.Platform()); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		if j, ok := byManifest[d.Digest]; ok {
			out[j].Names = appendNew(out[j].Names, names...)
			continue
		}
		img, err := a.ociImage(where, d)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 && len(d.Annotations[AnnotationImageName]) == 0 {
			if names, err = parseNames("manifest.json", tagsByConfig[img.ConfigDesc.Digest]); err != nil {
				return nil, err
			}
		}
		img.Names = appendNew(nil, names...)
		byManifest[d.Digest] = len(out)
		out = append(out, img)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("index.json lists no images: %w", errdefs.ErrInvalidArgument)
	}
	return out, nil
}

func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		dup := false
		for _, x := range list {
			dup = dup || x == a
		}
		if !dup {
			list = append(list, a)
		}
	}
	return list
}

// ociNames reads the name of an index.json entry: containerd's full name,
// else the OCI ref.name when it is a whole name rather than a bare tag.
func ociNames(where string, ann map[string]string) ([]string, error) {
	if n := ann[AnnotationImageName]; n != "" {
		return parseNames(where, []string{n})
	}
	if n := ann[AnnotationRefName]; strings.ContainsAny(n, "/:") {
		if names, err := parseNames(where, []string{n}); err == nil {
			return names, nil
		}
	}
	return nil, nil
}

// blob reads a small blob of the layout through the cap, verifying it.
func (a *Archive) blob(d ocispec.Descriptor) ([]byte, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %v: %w", d.Digest, err, errdefs.ErrInvalidArgument)
	}
	if d.Size > manifest.MaxSize {
		return nil, fmt.Errorf("%s: %d bytes is over the %d byte limit for JSON: %w", blobPath(d.Digest), d.Size, manifest.MaxSize, errdefs.ErrInvalidArgument)
	}
	b, err := a.readJSON(blobPath(d.Digest), d.Digest)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != d.Size {
		return nil, fmt.Errorf("%s: %w", blobPath(d.Digest), &verify.MismatchError{Want: d.Digest, Got: d.Digest, WantSize: d.Size, GotSize: int64(len(b))})
	}
	return b, nil
}

func (a *Archive) ociImage(where string, d ocispec.Descriptor) (Image, error) {
	mb, err := a.blob(d)
	if err != nil {
		return Image{}, fmt.Errorf("%s: %w", where, err)
	}
	mt := d.MediaType
	if mt == "" {
		mt = manifest.DetectMediaType(mb)
	}
	if !manifest.IsManifest(mt) {
		return Image{}, fmt.Errorf("%s: media type %q is not an image manifest: %w", where, d.MediaType, errdefs.ErrInvalidArgument)
	}
	m, err := manifest.DecodeManifest(mb)
	if err != nil {
		return Image{}, fmt.Errorf("%s: %w", where, err)
	}
	cb, err := a.blob(m.Config)
	if err != nil {
		return Image{}, fmt.Errorf("%s: config: %w", where, err)
	}
	cfg, err := manifest.DecodeConfig(cb)
	if err != nil {
		return Image{}, fmt.Errorf("%s: config %s: %w", where, m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return Image{}, fmt.Errorf("%s has %d layers but its config lists %d diff_ids: %w", where, len(m.Layers), len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	img := Image{
		ManifestBytes: mb,
		ManifestDesc:  ocispec.Descriptor{MediaType: mt, Digest: d.Digest, Size: d.Size},
		ConfigBytes:   cb,
		ConfigDesc:    m.Config,
		Config:        cfg,
	}
	for j, l := range m.Layers {
		if _, ok := manifest.Compression(l.MediaType); !ok {
			return Image{}, fmt.Errorf("%s: layer %d (%s): media type %q is not a layer Strata can unpack: %w", where, j, l.Digest, l.MediaType, errdefs.ErrNotImplemented)
		}
		p := blobPath(l.Digest)
		size, err := a.files.Size(p)
		if err != nil {
			return Image{}, fmt.Errorf("%s: layer %d: %w", where, j, err)
		}
		if size >= 0 && size != l.Size {
			return Image{}, fmt.Errorf("%s: layer %d: %s is %d bytes, its descriptor says %d: %w", where, j, p, size, l.Size, errdefs.ErrDataCorrupt)
		}
		img.Layers = append(img.Layers, Layer{Path: p, Desc: l, DiffID: cfg.RootFS.DiffIDs[j]})
	}
	return img, nil
}

// RandomAccess tells whether layers can be opened in any order and read at
// once (a plain tar file, spooled or not, or a directory); a stream gives
// them in its own order, one at a time.
func (a *Archive) RandomAccess() bool {
	switch a.files.(type) {
	case *tarFiles, *dirFiles:
		return true
	}
	return false
}
