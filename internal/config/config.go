package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	units "github.com/docker/go-units"

	"github.com/strata-project/strata/internal/errdefs"
)

// File is the engine-wide configuration, a JSON file in the root
// whose keys are those of docker's daemon.json for the same settings:
//
//	{"no-new-privileges": true, "dedupe": false, "blob-cache-size": "512m"}
//
// A missing file is the defaults (docker's, dedupe on, a blob cache of
// 0). Environment variables override it: STRATA_NO_NEW_PRIVILEGES=true|false,
// STRATA_DEDUPE=1|0, STRATA_BLOB_CACHE_SIZE=SIZE; the global
// --blob-cache-size flag overrides both.
const File = "config.json"

// NoNewPrivilegesEnv overrides Config.NoNewPrivileges.
const NoNewPrivilegesEnv = "STRATA_NO_NEW_PRIVILEGES"

// DedupeEnv overrides Config.Dedupe.
const DedupeEnv = "STRATA_DEDUPE"

// BlobCacheSizeEnv overrides Config.BlobCacheSize.
const BlobCacheSizeEnv = "STRATA_BLOB_CACHE_SIZE"

// DefaultBlobCacheSize is the blob cache's budget unless configured: 0,
// one copy of each layer. The unpacked snapshot is the layer; its
// compressed blob is needed again only to push to a registry that has
// neither it nor a repository to mount it from, and then it is rebuilt
// (pgzip, ~220 MB/s here). Pushing back to the registry a layer came from,
// or across its repositories, sends nothing either way, and save writes
// the layers from the snapshots as docker save does. A budget that keeps
// a few hundred MB would keep the small images people pull most in two
// copies, which is the waste the cache is there to end.
const DefaultBlobCacheSize = 0

// Config is the engine-wide configuration.
type Config struct {
	// Dedupe, unless false, stores each regular file of the committed
	// snapshots once, hard-linked from a content-addressed pool
	// (snapshot/filepool), on the overlay driver. Off, new snapshots keep
	// their own copies; what is pooled stays so until removed.
	Dedupe *bool `json:"dedupe,omitempty"`
	// NoNewPrivileges turns no-new-privileges on for every container
	// whose --security-opt does not say otherwise (docker's
	// --no-new-privileges daemon option). Off by default, as docker's:
	// setuid binaries (su, sudo, ping) work in containers.
	NoNewPrivileges bool `json:"no-new-privileges"`
	// BlobCacheSize is the bytes of compressed layer blobs kept beside
	// the unpacked layers (layer.BlobCache), least recently used evicted
	// first; 0 keeps none. JSON: a number of bytes or a size ("512m").
	BlobCacheSize *ByteSize `json:"blob-cache-size,omitempty"`
}

// ByteSize is a size in bytes, written as a number or as docker writes
// sizes ("512m", "2g", "1GiB").
type ByteSize int64

// ParseByteSize reads a size as --blob-cache-size takes it.
func ParseByteSize(what, s string) (ByteSize, error) {
	n, err := units.RAMInBytes(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: want a size in bytes such as 0, 512m or 2g: %w", what, s, errdefs.ErrInvalidArgument)
	}
	return ByteSize(n), nil
}

// UnmarshalJSON takes a number of bytes or a size string.
func (b *ByteSize) UnmarshalJSON(raw []byte) error {
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		if n < 0 {
			return fmt.Errorf("blob-cache-size %d: want 0 or more bytes", n)
		}
		*b = ByteSize(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("blob-cache-size %s: want a number of bytes or a size such as \"512m\"", raw)
	}
	v, err := ParseByteSize("blob-cache-size", s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Load reads root's File and the environment.
func Load(root string) (Config, error) {
	var c Config
	p := filepath.Join(root, File)
	b, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return c, fmt.Errorf("read engine config: %w", err)
	default:
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("engine config %s: %v (want a JSON object such as {\"no-new-privileges\": true}): %w", p, err, errdefs.ErrInvalidArgument)
		}
	}
	if v, ok := os.LookupEnv(NoNewPrivilegesEnv); ok && v != "" {
		nnp, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("%s=%q: want true or false: %w", NoNewPrivilegesEnv, v, errdefs.ErrInvalidArgument)
		}
		c.NoNewPrivileges = nnp
	}
	if v, ok := os.LookupEnv(DedupeEnv); ok && v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("%s=%q: want 1 or 0 (true or false): %w", DedupeEnv, v, errdefs.ErrInvalidArgument)
		}
		c.Dedupe = &on
	}
	if v, ok := os.LookupEnv(BlobCacheSizeEnv); ok && v != "" {
		n, err := ParseByteSize(BlobCacheSizeEnv, v)
		if err != nil {
			return c, err
		}
		c.BlobCacheSize = &n
	}
	return c, nil
}

// DedupeOn says whether new snapshots are deduped (the default).
func (c Config) DedupeOn() bool { return c.Dedupe == nil || *c.Dedupe }

// BlobCacheBudget is the blob cache's budget in force, in bytes.
func (c Config) BlobCacheBudget() int64 {
	if c.BlobCacheSize == nil {
		return DefaultBlobCacheSize
	}
	return int64(*c.BlobCacheSize)
}
