package container

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestImageConfig(t *testing.T) {
	base := ocispec.ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"serve"}, Env: []string{"PATH=/bin", "A=1"}, WorkingDir: "/w", User: "app"}
	tests := []struct {
		name string
		opts CreateOptions
		want ocispec.ImageConfig
	}{
		{"nothing given", CreateOptions{}, base},
		{"cmd", CreateOptions{Cmd: []string{"sh"}},
			ocispec.ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"sh"}, Env: base.Env, WorkingDir: "/w", User: "app"}},
		{"entrypoint drops cmd", CreateOptions{Entrypoint: []string{"echo"}},
			ocispec.ImageConfig{Entrypoint: []string{"echo"}, Env: base.Env, WorkingDir: "/w", User: "app"}},
		{"env, workdir, user", CreateOptions{Env: []string{"A=2", "B=3"}, WorkingDir: "/tmp", User: "0:0"},
			ocispec.ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"serve"}, Env: []string{"PATH=/bin", "A=2", "B=3"}, WorkingDir: "/tmp", User: "0:0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ImageConfig(&Container{Options: tt.opts}, base)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
