package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// ping answers /_ping (GET and HEAD) with the headers clients negotiate
// with. Builder-Version 1 makes the docker CLI send builds to POST /build
// with a context tar (the legacy builder's API), as Podman's server does.
func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Builder-Version", "1")
	h.Set("Docker-Experimental", "false")
	h.Set("Swarm", "inactive")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, err := w.Write([]byte("OK"))
		return err
	}
	return nil
}

func kernelVersion() string { return engine.KernelVersion() }

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	details := map[string]string{"ApiVersion": MaxVersion, "MinAPIVersion": MinVersion, "GoVersion": goruntime.Version(), "Os": goruntime.GOOS, "Arch": goruntime.GOARCH, "KernelVersion": kernelVersion()}
	return writeJSON(w, http.StatusOK, system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "Strata"},
		Version:       s.opts.Version,
		APIVersion:    MaxVersion,
		MinAPIVersion: MinVersion,
		Os:            goruntime.GOOS,
		Arch:          goruntime.GOARCH,
		KernelVersion: kernelVersion(),
		GoVersion:     goruntime.Version(),
		Components:    []system.ComponentVersion{{Name: "Engine", Version: s.opts.Version, Details: details}},
	})
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	in, err := s.eng.Info(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, system.Info{
		ID:                 "strata:" + in.RootDir,
		Containers:         in.Containers,
		ContainersRunning:  in.ContainersRunning,
		ContainersPaused:   in.ContainersPaused,
		ContainersStopped:  in.ContainersStopped,
		Images:             in.Images,
		Driver:             in.Driver,
		DockerRootDir:      in.RootDir,
		OperatingSystem:    in.OperatingSystem,
		OSType:             in.OSType,
		Architecture:       in.Architecture,
		NCPU:               in.NCPU,
		MemTotal:           in.MemTotal,
		KernelVersion:      in.KernelVersion,
		ServerVersion:      s.opts.Version,
		Name:               in.Name,
		CgroupDriver:       in.CgroupDriver,
		CgroupVersion:      in.CgroupVersion,
		DefaultRuntime:     in.DefaultRuntime,
		Runtimes:           map[string]system.RuntimeWithStatus{"runc": {Runtime: system.Runtime{Path: "runc"}}},
		LoggingDriver:      in.LoggingDriver,
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		IndexServerAddress: "https://index.docker.io/v1/",
		Swarm:              swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
	})
}

// auth checks a login against a registry, as docker login's POST /auth;
// nothing is stored (the client keeps its own credentials).
func (s *Server) auth(w http.ResponseWriter, r *http.Request) error {
	var cfg registry.AuthConfig
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&cfg); err != nil {
		return fmt.Errorf("auth: malformed JSON body: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	host := strings.TrimPrefix(strings.TrimPrefix(cfg.ServerAddress, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	if host == "" {
		return fmt.Errorf("auth: serveraddress is required (Strata has no default registry): %w", errdefs.ErrInvalidArgument)
	}
	if err := s.eng.Login(r.Context(), host, engine.RegistryAuth{Username: cfg.Username, Password: cfg.Password, IdentityToken: cfg.IdentityToken}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registry.AuthResponse{Status: "Login Succeeded"})
}
