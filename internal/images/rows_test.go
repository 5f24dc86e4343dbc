package images

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
)

func testImage(names []string, diffIDs ...digest.Digest) Image {
	img := Image{Names: names, ConfigDesc: ocispec.Descriptor{Digest: digest.FromString(names[0])}}
	img.Config.RootFS.DiffIDs = diffIDs
	return img
}

func TestRemovalNames(t *testing.T) {
	img := testImage([]string{"docker.io/library/app:v1", "docker.io/library/app:v2"})
	for _, tt := range []struct {
		name, ref string
		force     bool
		want      []string
		conflict  bool
	}{
		{name: "a name removes itself", ref: "app:v2", want: []string{"docker.io/library/app:v2"}},
		{name: "an ID with two names needs force", ref: "sha256:1234", conflict: true},
		{name: "forced, every name", ref: "sha256:1234", force: true, want: img.Names},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := img.RemovalNames(tt.ref, tt.force)
			if tt.conflict != errors.Is(err, errdefs.ErrConflict) {
				t.Fatalf("err = %v, want a conflict: %v", err, tt.conflict)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestRowsCountSharedLayersOnce: an image's size counts a layer it holds
// twice once; df splits shared from unique; history carries chain IDs
// and the image ID on top.
func TestRowsCountSharedLayersOnce(t *testing.T) {
	a, b := digest.FromString("a"), digest.FromString("b")
	base := testImage([]string{"docker.io/library/base:1"}, a)
	app := testImage([]string{"docker.io/library/app:1", UntaggedPrefix + "sha256:x"}, a, b, b)
	chains := manifest.ChainIDs([]digest.Digest{a, b, b})
	sizes := map[digest.Digest]int64{chains[0]: 100, chains[1]: 10, chains[2]: 1}
	if got := app.Size(sizes); got != 111 {
		t.Errorf("app size %d, want 111", got)
	}
	rows := Summaries([]Image{app}, sizes)
	if len(rows) != 2 || rows[1].Repository != "<none>" || rows[1].Tag != "<none>" {
		t.Errorf("summaries: %+v", rows)
	}
	u := MeasureUsage([]Image{base, app}, sizes, map[digest.Digest]int{app.ID(): 1})
	if u.LayersSize != 111 || u.SharedSize != 100 || u.Active != 1 || len(u.Rows) != 3 {
		t.Errorf("usage: %+v", u)
	}
	if r := u.Rows[1]; r.SharedSize != 100 || r.UniqueSize != 11 {
		t.Errorf("app row: %+v", r)
	}
	now := time.Unix(1700000000, 0)
	app.Config.History = []ocispec.History{{Created: &now, CreatedBy: "ADD a"}, {CreatedBy: "ENV x=1", EmptyLayer: true}, {CreatedBy: "RUN b"}, {CreatedBy: "RUN b again"}}
	want := []HistoryRow{
		{ID: app.ID().String(), CreatedBy: "RUN b again", Size: 1},
		{ID: chains[1].String(), CreatedBy: "RUN b", Size: 10},
		{ID: chains[0].String(), CreatedBy: "ENV x=1", EmptyLayer: true},
		{ID: chains[0].String(), Created: now, CreatedBy: "ADD a", Size: 100},
	}
	if diff := cmp.Diff(want, History(app, sizes)); diff != "" {
		t.Errorf("history (-want +got)\n%s", diff)
	}
}
