package main

// Keeps every dependency the packages being written need in go.mod until they import it themselves.
import (
 _ "github.com/spf13/cobra"
 _ "go.etcd.io/bbolt"
 _ "github.com/opencontainers/go-digest"
 _ "github.com/opencontainers/image-spec/specs-go/v1"
 _ "github.com/opencontainers/runtime-spec/specs-go"
 _ "github.com/distribution/reference"
 _ "github.com/klauspost/compress/zstd"
 _ "github.com/klauspost/pgzip"
 _ "golang.org/x/crypto/bcrypt"
 _ "golang.org/x/sync/errgroup"
 _ "golang.org/x/sys/unix"
 _ "golang.org/x/term"
 _ "github.com/google/go-cmp/cmp"
 _ "github.com/moby/buildkit/frontend/dockerfile/parser"
 _ "gopkg.in/yaml.v3"
 _ "github.com/vbauerster/mpb/v8"
)
