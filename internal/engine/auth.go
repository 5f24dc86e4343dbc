package engine

import (
	"context"

	"github.com/strata-project/strata/internal/remote"
)

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
