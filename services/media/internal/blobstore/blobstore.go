// Package blobstore is the media service's port to where image bytes live:
// a directory on local disk (the default) or an S3-compatible bucket. Both
// implementations pass the same contract suite, blobstoretest.RunSuite.
//
// Blobs are immutable once written: Put replaces atomically (readers see
// the old bytes or the new, never a mix), and keys are paths of plain
// segments (letters, digits, '.', '_', '-') joined by '/'.
package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// ErrNotFound is returned for a key with no blob.
var ErrNotFound = errors.New("blob not found")

// Info describes a stored blob.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store keeps blobs by key.
type Store interface {
	// Put stores body under key, replacing any blob there atomically.
	Put(ctx context.Context, key string, body io.ReadSeeker) error
	// Open reads length bytes from offset (0 means to the end); Info is
	// the whole blob's. An offset at or past the end reads nothing.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error)
	// Stat describes a blob.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes a blob; a missing blob is not an error.
	Delete(ctx context.Context, key string) error
	// List yields every blob whose key starts with prefix, in no
	// particular order.
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]
}

// ValidKey checks a key: non-empty segments of [A-Za-z0-9._-], not "." or
// "..", joined by '/', at most 512 bytes. Both stores refuse anything else,
// so a key can never escape the store's root.
func ValidKey(key string) error {
	if key == "" || len(key) > 512 {
		return fmt.Errorf("blob key %q: length must be 1 to 512", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("blob key %q: empty or dot segment", key)
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
				return fmt.Errorf("blob key %q: character %q", key, r)
			}
		}
	}
	return nil
}

// validPrefix checks a List prefix: empty, or a valid key optionally
// followed by '/'.
func validPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidKey(strings.TrimSuffix(prefix, "/"))
}
