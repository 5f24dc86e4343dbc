package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/strata-project/strata/internal/remote"
)

// RegistryHost turns a login argument into the host key docker uses:
// "https://reg:5000/v2/" and "reg:5000" are both reg:5000; none is docker.io.
func RegistryHost(s string) string {
	if s == "" {
		return remote.DockerHub
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if s == "index.docker.io" || s == "registry-1.docker.io" {
		return remote.DockerHub
	}
	return s
}

// Login checks the credentials with the registry at host (RegistryHost's
// form) and stores them as docker does: in the credential helper docker's
// config names, else in the config file. Logging in needs no store.
func Login(ctx context.Context, host, username, password string) error {
	cred := remote.Credential{Username: username, Password: password}
	if err := remote.New().Login(ctx, host, cred); err != nil {
		return err
	}
	if err := remote.DefaultConfigFile().Store(ctx, host, cred); err != nil {
		return fmt.Errorf("login to %s succeeded but the credentials were not saved: %w", host, err)
	}
	return nil
}

// Logout removes the credentials stored for host and reports whether
// there were any.
func Logout(ctx context.Context, host string) (bool, error) {
	return remote.DefaultConfigFile().Erase(ctx, host)
}
