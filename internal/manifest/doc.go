// Package manifest decodes and validates image manifests, indexes and
// configs: OCI image-spec v1 and Docker's schema2 equivalents (manifest,
// manifest list, container config), which share one JSON shape.
//
// Everything here works on bytes already read through a size cap (MaxSize);
// it never fetches. Decoders return errors wrapping
// errdefs.ErrInvalidArgument that say which field is wrong.
package manifest
