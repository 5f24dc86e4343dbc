package remote

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
)

// Credential is what a registry is told about who is asking.
type Credential struct {
	Username string
	Password string
	// IdentityToken is a refresh token some registries hand out at login;
	// it is exchanged for access tokens with an OAuth2 POST.
	IdentityToken string
}

// Empty reports whether c carries nothing.
func (c Credential) Empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == ""
}

// ConfigFile is docker's client config (~/.docker/config.json), read and
// written so that docker and Strata share logins. Only the keys "auths",
// "credsStore" and "credHelpers" are interpreted; every other key is kept
// as it is when the file is rewritten.
type ConfigFile struct {
	Path string
}

// DefaultConfigFile is $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func DefaultConfigFile() *ConfigFile {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "/root"
		}
		dir = filepath.Join(home, ".docker")
	}
	return &ConfigFile{Path: filepath.Join(dir, "config.json")}
}

type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

type configKeys struct {
	Auths       map[string]authEntry `json:"auths"`
	CredsStore  string               `json:"credsStore"`
	CredHelpers map[string]string    `json:"credHelpers"`
}

func (f *ConfigFile) read() (raw map[string]json.RawMessage, keys configKeys, err error) {
	raw = map[string]json.RawMessage{}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return raw, keys, nil
	}
	if err != nil {
		return nil, keys, fmt.Errorf("read %s: %w", f.Path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return raw, keys, nil
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, keys, fmt.Errorf("%s is not valid JSON: %v: %w", f.Path, err, errdefs.ErrInvalidArgument)
	}
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, keys, fmt.Errorf("%s: %v: %w", f.Path, err, errdefs.ErrInvalidArgument)
	}
	return raw, keys, nil
}

// authKey is the key docker uses for a registry in "auths" and helpers.
func authKey(host string) string {
	if host == DockerHub || host == dockerHubAPI || host == "index.docker.io" {
		return dockerHubAuth
	}
	return host
}

// normalizeKey strips a scheme and a path from an "auths" key, as docker
// does when it matches them ("https://host:5000/v2/" is host:5000).
func normalizeKey(k string) string {
	if k == dockerHubAuth {
		return k
	}
	k = strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
	if i := strings.IndexByte(k, '/'); i >= 0 {
		k = k[:i]
	}
	return k
}

// HostOf turns a login argument into the host key docker uses:
// "https://reg:5000/v2/" and "reg:5000" are both reg:5000; none is docker.io.
func HostOf(s string) string {
	switch s = normalizeKey(s); s {
	case "", dockerHubAuth, "index.docker.io", dockerHubAPI:
		return DockerHub
	}
	return s
}

func (keys configKeys) helper(key string) string {
	if h, ok := keys.CredHelpers[key]; ok {
		return h
	}
	return keys.CredsStore
}

// Get returns the credential stored for host, or an empty one when there
// is none.
func (f *ConfigFile) Get(ctx context.Context, host string) (Credential, error) {
	_, keys, err := f.read()
	if err != nil {
		return Credential{}, err
	}
	key := authKey(host)
	if h := keys.helper(key); h != "" {
		return helperGet(ctx, h, key)
	}
	for k, e := range keys.Auths {
		if normalizeKey(k) != key {
			continue
		}
		c := Credential{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken}
		if e.Auth != "" {
			b, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return Credential{}, fmt.Errorf("%s: auths[%q].auth is not base64: %w", f.Path, k, errdefs.ErrInvalidArgument)
			}
			user, pass, ok := strings.Cut(string(b), ":")
			if !ok {
				return Credential{}, fmt.Errorf("%s: auths[%q].auth is not user:password: %w", f.Path, k, errdefs.ErrInvalidArgument)
			}
			c.Username, c.Password = user, pass
		}
		return c, nil
	}
	return Credential{}, nil
}

// Store saves cred for host: in its credential helper when one is
// configured, else base64 in "auths". The file is written with mode 0600.
func (f *ConfigFile) Store(ctx context.Context, host string, cred Credential) error {
	raw, keys, err := f.read()
	if err != nil {
		return err
	}
	key := authKey(host)
	if h := keys.helper(key); h != "" {
		return helperStore(ctx, h, key, cred)
	}
	auths := keys.Auths
	if auths == nil {
		auths = map[string]authEntry{}
	}
	for k := range auths {
		if normalizeKey(k) == key {
			delete(auths, k)
		}
	}
	e := authEntry{IdentityToken: cred.IdentityToken}
	if cred.Username != "" || cred.Password != "" {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(cred.Username + ":" + cred.Password))
	}
	auths[key] = e
	return f.writeAuths(raw, auths)
}

// Erase removes what is stored for host; nothing stored is not an error.
func (f *ConfigFile) Erase(ctx context.Context, host string) (bool, error) {
	raw, keys, err := f.read()
	if err != nil {
		return false, err
	}
	key := authKey(host)
	if h := keys.helper(key); h != "" {
		return true, helperRun(ctx, h, "erase", []byte(key), nil)
	}
	found := false
	for k := range keys.Auths {
		if normalizeKey(k) == key {
			delete(keys.Auths, k)
			found = true
		}
	}
	if !found {
		return false, nil
	}
	return true, f.writeAuths(raw, keys.Auths)
}

func (f *ConfigFile) writeAuths(raw map[string]json.RawMessage, auths map[string]authEntry) error {
	b, err := json.Marshal(auths)
	if err != nil {
		return err
	}
	raw["auths"] = b
	out, err := json.MarshalIndent(raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".config.json-")
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(out, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	return nil
}

// The credential helper protocol (docker-credential-helpers): the verb is
// the argument, the server URL or a JSON record is standard input.
func helperRun(ctx context.Context, helper, verb string, in []byte, out *bytes.Buffer) error {
	cmd := exec.CommandContext(ctx, "docker-credential-"+helper, verb)
	cmd.Stdin = bytes.NewReader(in)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stdout
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String())
		if len(msg) > 512 {
			msg = msg[:512]
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("credential helper docker-credential-%s %s: %s", helper, verb, msg)
	}
	if out != nil {
		*out = stdout
	}
	return nil
}

func helperGet(ctx context.Context, helper, key string) (Credential, error) {
	var out bytes.Buffer
	if err := helperRun(ctx, helper, "get", []byte(key), &out); err != nil {
		if strings.Contains(err.Error(), "credentials not found") {
			return Credential{}, nil
		}
		return Credential{}, err
	}
	var r struct{ Username, Secret string }
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return Credential{}, fmt.Errorf("credential helper docker-credential-%s get: %v", helper, err)
	}
	if r.Username == "<token>" {
		return Credential{IdentityToken: r.Secret}, nil
	}
	return Credential{Username: r.Username, Password: r.Secret}, nil
}

func helperStore(ctx context.Context, helper, key string, cred Credential) error {
	rec := struct{ ServerURL, Username, Secret string }{key, cred.Username, cred.Password}
	if cred.IdentityToken != "" {
		rec.Username, rec.Secret = "<token>", cred.IdentityToken
	}
	b, _ := json.Marshal(rec)
	return helperRun(ctx, helper, "store", b, nil)
}
