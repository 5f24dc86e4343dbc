package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-project/strata/internal/errdefs"
)

func TestLoad(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		env        map[string]string
		nnp, dedup bool
		budget     int64
		bad        bool
	}{
		{name: "missing file is the defaults", dedup: true},
		{name: "daemon.json keys", file: `{"no-new-privileges": true, "dedupe": false, "blob-cache-size": "512m"}`, nnp: true, budget: 512 << 20},
		{name: "size as bytes", file: `{"blob-cache-size": 4096}`, dedup: true, budget: 4096},
		{name: "env overrides file", file: `{"dedupe": true, "blob-cache-size": 1}`, env: map[string]string{DedupeEnv: "0", BlobCacheSizeEnv: "2g", NoNewPrivilegesEnv: "true"}, nnp: true, budget: 2 << 30},
		{name: "unknown key", file: `{"no-such-key": 1}`, bad: true},
		{name: "negative size", file: `{"blob-cache-size": -1}`, bad: true},
		{name: "bad size", file: `{"blob-cache-size": "lots"}`, bad: true},
		{name: "bad env", env: map[string]string{DedupeEnv: "maybe"}, bad: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{DedupeEnv, BlobCacheSizeEnv, NoNewPrivilegesEnv} {
				t.Setenv(k, tt.env[k])
			}
			root := t.TempDir()
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(root, File), []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Load(root)
			if tt.bad {
				if err == nil {
					t.Fatalf("Load: no error, want one (config %+v)", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.NoNewPrivileges != tt.nnp || c.DedupeOn() != tt.dedup || c.BlobCacheBudget() != tt.budget {
				t.Errorf("got nnp=%v dedupe=%v budget=%d, want %v %v %d", c.NoNewPrivileges, c.DedupeOn(), c.BlobCacheBudget(), tt.nnp, tt.dedup, tt.budget)
			}
		})
	}
}

func TestParseByteSizeRefuses(t *testing.T) {
	for _, s := range []string{"", "-1", "12q", "lots"} {
		if _, err := ParseByteSize("--blob-cache-size", s); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ParseByteSize(%q) = %v, want an invalid-argument error", s, err)
		}
	}
}
