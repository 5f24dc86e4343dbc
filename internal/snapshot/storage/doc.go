// Package storage is the part of a snapshotter that overlay and native
// share: the records in bbolt, the numbered snapshot directories, the crash
// order between them, and Cleanup. An implementation supplies a Driver that
// fills a new snapshot's directory and says how to mount it, and embeds the
// *Snapshotter that New returns.
//
// Layout of a root:
//
//	<root>/
//	├── metadata.db             bbolt, opened only around each transaction
//	│   └── v1/                 bucket; its sequence is the last snapshot id
//	│       └── snapshots/
//	│           └── <key>/      one bucket per snapshot, by key or name
//	│               ├── id       uint64, big-endian: the directory number
//	│               ├── kind     1 byte: snapshot.Kind
//	│               ├── parent   the parent's name, absent for none
//	│               ├── created  time.Time binary
//	│               ├── updated  time.Time binary
//	│               └── labels/  bucket: label → value
//	└── snapshots/
//	    ├── <id>/
//	    │   ├── fs/             the snapshot's own files
//	    │   └── work/           overlay work dir (active overlay snapshots)
//	    ├── new-<pid>-<rand>/   being made by process pid
//	    └── rm-<id>/            being removed
//
// Crash order. Making a snapshot fills new-<pid>-<rand>/ outside any lock,
// then in one write transaction checks the key is free, takes an id, writes
// the record and renames the directory to <id>; a crash leaves either a
// new-* directory of a dead process or, if the transaction did not commit,
// a numbered directory with no record. Removing deletes the record first,
// then renames the directory to rm-<id>/ and deletes it. Cleanup deletes
// all three kinds of leftover. Because the key check and the record write
// are one bbolt write transaction, and bbolt locks the file for it, two
// processes preparing the same key cannot both win.
package storage
