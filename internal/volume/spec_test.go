package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/mount"

	"github.com/strata-project/strata/internal/errdefs"
)

func TestParseBind(t *testing.T) {
	dir := t.TempDir()
	bindOpts := func(p mount.Propagation) *mount.BindOptions {
		return &mount.BindOptions{CreateMountpoint: true, Propagation: p}
	}
	tests := []struct {
		in      string
		want    mount.Mount
		wantErr string
	}{
		{dir + ":/data", mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/data", BindOptions: bindOpts("")}, ""},
		{dir + ":/data:ro", mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/data", ReadOnly: true, BindOptions: bindOpts("")}, ""},
		{dir + ":/data:rw,rshared", mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/data", BindOptions: bindOpts("rshared")}, ""},
		// -v makes a missing host path, as docker's does.
		{"/no/such/dir:/data", mount.Mount{Type: mount.TypeBind, Source: "/no/such/dir", Target: "/data", BindOptions: bindOpts("")}, ""},
		{"data:/data", mount.Mount{Type: mount.TypeVolume, Source: "data", Target: "/data"}, ""},
		{"data:/data:ro,nocopy", mount.Mount{Type: mount.TypeVolume, Source: "data", Target: "/data", ReadOnly: true, VolumeOptions: &mount.VolumeOptions{NoCopy: true}}, ""},
		{"data:/data:z", mount.Mount{Type: mount.TypeVolume, Source: "data", Target: "/data"}, ""},
		{"/data", mount.Mount{Type: mount.TypeVolume, Target: "/data"}, ""},
		{dir + ":/data:xx", mount.Mount{}, "invalid mode: xx"},
		{dir + ":/data:ro,rw", mount.Mount{}, "given twice"},
		{dir + ":/", mount.Mount{}, "destination can't be '/'"},
		{"data:rel", mount.Mount{}, "mount path must be absolute"},
		{"/data:ro", mount.Mount{}, "invalid volume specification"},
		{"a b:/data", mount.Mount{}, "includes invalid characters for a local volume name"},
		{"data:/data:rshared", mount.Mount{}, "propagation mode applies to a host path"},
		{dir + ":/data:nocopy", mount.Mount{}, "nocopy applies to volumes"},
		{"a:/b:ro:x", mount.Mount{}, "invalid volume specification"},
		{":/data", mount.Mount{}, "invalid volume specification"},
		{"", mount.Mount{}, "invalid volume specification"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBind(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err %v, want %q (invalid argument)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The --mount errors are docker's words (recorded from the docker 28 CLI
// and its daemon).
func TestParseMount(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		in      string
		want    mount.Mount
		wantErr string
	}{
		{"type=bind,src=" + dir + ",dst=/x,readonly", mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/x", ReadOnly: true}, ""},
		{"type=bind,source=" + dir + ",target=/x,bind-propagation=rslave", mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/x", BindOptions: &mount.BindOptions{Propagation: "rslave"}}, ""},
		{"src=data,dst=/x", mount.Mount{Type: mount.TypeVolume, Source: "data", Target: "/x"}, ""},
		{"type=volume,dst=/x,ro=false,volume-nocopy", mount.Mount{Type: mount.TypeVolume, Target: "/x", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}, ""},
		{"type=volume,src=vv,dst=/x,volume-opt=type=tmpfs,volume-opt=o=size=1m,volume-label=a=b",
			mount.Mount{Type: mount.TypeVolume, Source: "vv", Target: "/x", VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{"a": "b"},
				DriverConfig: &mount.Driver{Options: map[string]string{"type": "tmpfs", "o": "size=1m"}}}}, ""},
		{"type=tmpfs,dst=/x,tmpfs-size=64m,tmpfs-mode=1770", mount.Mount{Type: mount.TypeTmpfs, Target: "/x", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1770}}, ""},
		{`type=bind,"src=` + dir + `",dst=/x`, mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/x"}, ""},
		{"type=foo,dst=/x", mount.Mount{}, `invalid mount config for type "foo": mount type unknown`},
		{"dst", mount.Mount{}, "invalid field 'dst' must be a key=value pair"},
		{"src=/x", mount.Mount{}, "target is required"},
		{"type=bind,dst=/x", mount.Mount{}, `invalid mount config for type "bind": field Source must not be empty`},
		{"type=bind,src=/nonexist,dst=/x", mount.Mount{}, "bind source path does not exist: /nonexist"},
		{"type=tmpfs,src=x,dst=/x", mount.Mount{}, `invalid mount config for type "tmpfs": field Source must not be specified`},
		{"type=bind,src=/tmp,dst=/x,volume-opt=a=b", mount.Mount{}, "cannot mix 'volume-*' options with mount type 'bind'"},
		{"type=volume,dst=/x,readonly=maybe", mount.Mount{}, "invalid value for readonly: maybe"},
		{"bogus=1,dst=/x", mount.Mount{}, "unexpected key 'bogus' in 'bogus=1'"},
		{"type=tmpfs,dst=/x,tmpfs-size=abc", mount.Mount{}, "invalid value for tmpfs-size: abc"},
		{"type=volume,dst=x", mount.Mount{}, "invalid mount path: 'x' mount path must be absolute"},
		{"type=volume,dst=/", mount.Mount{}, "destination can't be '/'"},
		{"type=volume,dst=/x,volume-opt=novalue", mount.Mount{}, "invalid value for volume-opt: novalue"},
		{"type=volume,src=a b,dst=/x", mount.Mount{}, "includes invalid characters"},
		{"type=volume,dst=/x,volume-opt=foo=bar", mount.Mount{}, `invalid option: "foo"`},
		{"type=volume,dst=/x,volume-driver=nfs", mount.Mount{}, `volume driver "nfs" is not supported`},
		{`type=bind,"src`, mount.Mount{}, `for "--mount" flag`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMount(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err %v, want %q (invalid argument)", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is more than one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseMount: whatever --mount is given, either it is refused with one
// line of invalid argument, or it is a mount Check accepts, with an
// absolute target other than /, of a type Strata mounts; and parsing its
// own fields back gives the same mount.
func FuzzParseMount(f *testing.F) {
	for _, s := range []string{"type=bind,src=/tmp,dst=/x,readonly", "src=data,dst=/x", "type=tmpfs,dst=/x,tmpfs-size=1m",
		"type=volume,dst=/x,volume-opt=type=tmpfs,volume-nocopy", `"dst=/a,b"`, "dst=/x,ro=0", "type=bind,src=/,dst=/x,bind-propagation=shared"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseMount(in)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) || strings.Contains(err.Error(), "\n") && !strings.Contains(in, "\n") {
				t.Fatalf("ParseMount(%q): %v: want one line of invalid argument", in, err)
			}
			return
		}
		if err := Check(m); err != nil {
			t.Fatalf("ParseMount(%q) = %+v, which Check refuses: %v", in, m, err)
		}
		if !filepath.IsAbs(m.Target) || filepath.Clean(m.Target) == "/" {
			t.Fatalf("ParseMount(%q): target %q", in, m.Target)
		}
		switch m.Type {
		case mount.TypeBind, mount.TypeVolume, mount.TypeTmpfs:
		default:
			t.Fatalf("ParseMount(%q): type %q", in, m.Type)
		}
		if m.Type == mount.TypeBind {
			if _, err := os.Stat(m.Source); err != nil {
				t.Fatalf("ParseMount(%q): bind of a missing %q", in, m.Source)
			}
		}
		p := pointOf(m)
		if p.Destination != m.Target || p.RW == m.ReadOnly {
			t.Fatalf("ParseMount(%q): mount point %+v of %+v", in, p, m)
		}
	})
}

// FuzzParseBind: -v values are refused with one line of invalid argument
// or give a bind of an absolute path or a volume of a valid name (or none:
// anonymous), at an absolute destination other than /.
func FuzzParseBind(f *testing.F) {
	for _, s := range []string{"/tmp:/x", "data:/x:ro", "/x", "/a:/b:rw,rshared", "a:/b:nocopy,z", ":/x", "a::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseBind(in)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("ParseBind(%q): %v: want invalid argument", in, err)
			}
			return
		}
		if !filepath.IsAbs(m.Target) || filepath.Clean(m.Target) == "/" {
			t.Fatalf("ParseBind(%q): target %q", in, m.Target)
		}
		switch m.Type {
		case mount.TypeBind:
			if !filepath.IsAbs(m.Source) {
				t.Fatalf("ParseBind(%q): bind of %q", in, m.Source)
			}
		case mount.TypeVolume:
			if m.Source != "" && CheckName(m.Source) != nil {
				t.Fatalf("ParseBind(%q): volume name %q", in, m.Source)
			}
		default:
			t.Fatalf("ParseBind(%q): type %q", in, m.Type)
		}
	})
}
