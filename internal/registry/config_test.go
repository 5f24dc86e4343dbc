package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		want       Options
		err        string
	}{
		{"full", `
root: data
addr: 127.0.0.1:5001
realm: corp
htpasswd: /etc/strata/htpasswd
tls-cert: cert.pem
tls-key: key.pem
read-only: true
gc-grace: 30m
gc-interval: 24h
upload-expiry: 2h
`, Options{Root: filepath.Join(dir, "data"), Addr: "127.0.0.1:5001", Realm: "corp", HtpasswdPath: "/etc/strata/htpasswd",
			TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem"), ReadOnly: true,
			GCGrace: 30 * time.Minute, GCInterval: 24 * time.Hour, UploadExpiry: 2 * time.Hour}, ""},
		{"empty", "", Options{}, ""},
		{"typo", "htpasword: x\n", Options{}, "field htpasword not found"},
		{"bad duration", "gc-grace: soon\n", Options{}, "time.Duration"},
		{"negative", "gc-grace: -1h\n", Options{}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "registry.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := LoadConfig(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Options{}, "AccessLog")); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
