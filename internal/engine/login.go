package engine

import (
	"context"
	"fmt"

	"github.com/strata-project/strata/internal/remote"
)

// RegistryHost turns a login argument into the host key docker uses
// (remote.HostOf): "https://reg:5000/v2/" and "reg:5000" are both
// reg:5000; none is docker.io.
func RegistryHost(s string) string { return remote.HostOf(s) }

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

// RegistryAuth is a registry credential a front end received with a
// request (the Engine API's X-Registry-Auth header, a login request),
// rather than one stored in docker's config file.
type RegistryAuth struct {
	Username      string
	Password      string
	IdentityToken string
}

func (a RegistryAuth) credential() remote.Credential {
	return remote.Credential{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
}

// RegistryClient returns a registry client that presents auth to every
// registry it talks to, or, when auth is empty, the default client (docker's
// stored credentials). Its upload sessions live in the store, as Push's.
func (e *Engine) RegistryClient(auth RegistryAuth) *remote.Client {
	if auth.credential().Empty() {
		return e.remoteClient(nil)
	}
	cred := auth.credential()
	return remote.New(remote.WithSessions(e.pushSessions()), remote.WithCredentials(func(context.Context, string) (remote.Credential, error) {
		return cred, nil
	}))
}

// Login checks auth against the registry at host (its /v2/ endpoint, with
// whatever challenge it answers), as docker login does; nothing is stored.
func (e *Engine) Login(ctx context.Context, host string, auth RegistryAuth) error {
	return remote.New().Login(ctx, host, auth.credential())
}
