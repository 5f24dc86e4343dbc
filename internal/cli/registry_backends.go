package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/strata-project/strata/internal/registry"
	"github.com/strata-project/strata/internal/registry/backend/s3blobs"
)

// backendFlags choose where a registry keeps its blobs (S3) and its index
// (PostgreSQL); unset, the local store and bbolt under --root. Secrets may
// come from the environment instead of the command line, where every user
// of the machine can read them:
//
//	STRATA_REGISTRY_DATABASE            --database
//	STRATA_REGISTRY_S3_ACCESS_KEY       --storage-s3-access-key
//	STRATA_REGISTRY_S3_SECRET_KEY       --storage-s3-secret-key
type backendFlags struct {
	s3       s3blobs.Config
	database string
}

func (b *backendFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&b.s3.Endpoint, "storage-s3-endpoint", "", "keep blobs in this S3-compatible store (http://127.0.0.1:7070)")
	fl.StringVar(&b.s3.Bucket, "storage-s3-bucket", "", "the S3 bucket")
	fl.StringVar(&b.s3.Region, "storage-s3-region", "us-east-1", "the S3 region")
	fl.StringVar(&b.s3.Prefix, "storage-s3-prefix", "", "prefix of every S3 key")
	fl.StringVar(&b.s3.AccessKey, "storage-s3-access-key", "", "S3 access key (or $STRATA_REGISTRY_S3_ACCESS_KEY)")
	fl.StringVar(&b.s3.SecretKey, "storage-s3-secret-key", "", "S3 secret key (or $STRATA_REGISTRY_S3_SECRET_KEY)")
	fl.BoolVar(&b.s3.ForcePathStyle, "storage-s3-force-path-style", false, "address the bucket in the path, not the host name")
	fl.BoolVar(&b.s3.Redirect, "storage-s3-redirect", false, "send blob GETs to presigned S3 URLs")
	fl.StringVar(&b.database, "database", "", "keep the index in PostgreSQL (postgres://user@host/db; or $STRATA_REGISTRY_DATABASE)")
}

// apply merges flags over the config file's storage and database, and the
// environment under both.
func (b *backendFlags) apply(cmd *cobra.Command, opts *registry.Options) error {
	set := func(name string) bool { return cmd.Flags().Changed(name) }
	s3 := opts.Storage.S3
	anyS3 := false
	for _, n := range []string{"storage-s3-endpoint", "storage-s3-bucket", "storage-s3-region", "storage-s3-prefix",
		"storage-s3-access-key", "storage-s3-secret-key", "storage-s3-force-path-style", "storage-s3-redirect"} {
		anyS3 = anyS3 || set(n)
	}
	if anyS3 && s3 == nil {
		s3 = &s3blobs.Config{Region: b.s3.Region}
	}
	if s3 != nil {
		for _, f := range []struct {
			name string
			dst  *string
			src  string
		}{
			{"storage-s3-endpoint", &s3.Endpoint, b.s3.Endpoint},
			{"storage-s3-bucket", &s3.Bucket, b.s3.Bucket},
			{"storage-s3-region", &s3.Region, b.s3.Region},
			{"storage-s3-prefix", &s3.Prefix, b.s3.Prefix},
			{"storage-s3-access-key", &s3.AccessKey, b.s3.AccessKey},
			{"storage-s3-secret-key", &s3.SecretKey, b.s3.SecretKey},
		} {
			if set(f.name) {
				*f.dst = f.src
			}
		}
		if set("storage-s3-force-path-style") {
			s3.ForcePathStyle = b.s3.ForcePathStyle
		}
		if set("storage-s3-redirect") {
			s3.Redirect = b.s3.Redirect
		}
		if v := os.Getenv("STRATA_REGISTRY_S3_ACCESS_KEY"); v != "" && !set("storage-s3-access-key") && s3.AccessKey == "" {
			s3.AccessKey = v
		}
		if v := os.Getenv("STRATA_REGISTRY_S3_SECRET_KEY"); v != "" && !set("storage-s3-secret-key") && s3.SecretKey == "" {
			s3.SecretKey = v
		}
		if s3.Bucket == "" {
			return fmt.Errorf("storage.s3: a bucket is required (--storage-s3-bucket or bucket: in the config)")
		}
		opts.Storage.S3 = s3
	}
	if set("database") {
		opts.Database = b.database
	} else if v := os.Getenv("STRATA_REGISTRY_DATABASE"); v != "" && opts.Database == "" {
		opts.Database = v
	}
	return nil
}

// describeBackends says where a registry keeps its data, for the serve
// banner.
func describeBackends(opts registry.Options, root string) string {
	where := root
	if s3 := opts.Storage.S3; s3 != nil {
		where = fmt.Sprintf("s3://%s/%s at %s", s3.Bucket, s3.Prefix, s3.Endpoint)
	}
	if opts.Database != "" {
		where += " with a PostgreSQL index"
	}
	return where
}
