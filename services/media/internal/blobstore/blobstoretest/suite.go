// Package blobstoretest is the contract every blobstore.Store honours; each
// implementation's tests run it against a real instance (a temporary
// directory, an in-process S3 server).
package blobstoretest

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/connectengine/photoshoot/services/media/internal/blobstore"
)

// RunSuite runs the contract against s, which must be empty.
func RunSuite(t *testing.T, s blobstore.Store) {
	t.Run("put_then_open_reads_the_bytes", func(t *testing.T) {
		body := bytes.Repeat([]byte("0123456789"), 10_000)
		put(t, s, "suite/read/a.bin", body)
		got, info := read(t, s, "suite/read/a.bin", 0, 0)
		if !bytes.Equal(got, body) || info.Size != int64(len(body)) {
			t.Fatalf("read %d bytes (info size %d), want %d", len(got), info.Size, len(body))
		}
		st, err := s.Stat(t.Context(), "suite/read/a.bin")
		if err != nil || st.Size != int64(len(body)) || st.ModTime.IsZero() {
			t.Fatalf("Stat = %+v, %v", st, err)
		}
	})
	t.Run("ranges", func(t *testing.T) {
		body := []byte("abcdefghijklmnopqrstuvwxyz")
		put(t, s, "suite/range/r", body)
		for _, c := range []struct {
			offset, length int64
			want           string
		}{
			{0, 0, string(body)},
			{3, 4, "defg"},
			{20, 0, "uvwxyz"},
			{24, 10, "yz"},
			{26, 0, ""},
			{100, 5, ""},
		} {
			got, info := read(t, s, "suite/range/r", c.offset, c.length)
			if string(got) != c.want || info.Size != int64(len(body)) {
				t.Errorf("Open(%d, %d) = %q (size %d), want %q (size %d)", c.offset, c.length, got, info.Size, c.want, len(body))
			}
		}
	})
	t.Run("put_replaces", func(t *testing.T) {
		put(t, s, "suite/replace/x", []byte("old bytes, longer"))
		put(t, s, "suite/replace/x", []byte("new"))
		if got, _ := read(t, s, "suite/replace/x", 0, 0); string(got) != "new" {
			t.Fatalf("after replace read %q", got)
		}
	})
	t.Run("empty_blob", func(t *testing.T) {
		put(t, s, "suite/empty/e", nil)
		if got, info := read(t, s, "suite/empty/e", 0, 0); len(got) != 0 || info.Size != 0 {
			t.Fatalf("read %q, size %d", got, info.Size)
		}
	})
	t.Run("missing_is_not_found", func(t *testing.T) {
		if _, _, err := s.Open(t.Context(), "suite/missing/m", 0, 0); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("Open missing: %v, want ErrNotFound", err)
		}
		if _, err := s.Stat(t.Context(), "suite/missing/m"); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("Stat missing: %v, want ErrNotFound", err)
		}
		if err := s.Delete(t.Context(), "suite/missing/m"); err != nil {
			t.Errorf("Delete missing: %v, want nil", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		put(t, s, "suite/delete/d", []byte("x"))
		if err := s.Delete(t.Context(), "suite/delete/d"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(t.Context(), "suite/delete/d"); !errors.Is(err, blobstore.ErrNotFound) {
			t.Fatalf("Stat after delete: %v", err)
		}
	})
	t.Run("list_by_prefix", func(t *testing.T) {
		for _, k := range []string{"suite/list/u1/a", "suite/list/u1/b/c", "suite/list/u10/a", "suite/list/u2/a"} {
			put(t, s, k, []byte(k))
		}
		for prefix, want := range map[string][]string{
			"suite/list/u1/": {"suite/list/u1/a", "suite/list/u1/b/c"},
			"suite/list/u1":  {"suite/list/u1/a", "suite/list/u1/b/c", "suite/list/u10/a"},
			"suite/list/":    {"suite/list/u1/a", "suite/list/u1/b/c", "suite/list/u10/a", "suite/list/u2/a"},
			"suite/list/u3/": nil,
		} {
			var got []string
			for info, err := range s.List(t.Context(), prefix) {
				if err != nil {
					t.Fatalf("List(%q): %v", prefix, err)
				}
				if info.ModTime.IsZero() || info.Size != int64(len(info.Key)) {
					t.Errorf("List(%q) info %+v", prefix, info)
				}
				got = append(got, info.Key)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("List(%q) = %v, want %v", prefix, got, want)
			}
		}
	})
	t.Run("invalid_keys_refused", func(t *testing.T) {
		for _, k := range []string{"", "/abs", "a/../b", "a//b", "..", "a/./b", "sp ace", "a\\b", strings.Repeat("k", 513)} {
			if err := s.Put(t.Context(), k, bytes.NewReader([]byte("x"))); err == nil {
				t.Errorf("Put(%q) succeeded", k)
			}
			if _, _, err := s.Open(t.Context(), k, 0, 0); err == nil || errors.Is(err, blobstore.ErrNotFound) {
				t.Errorf("Open(%q) = %v, want a key error", k, err)
			}
		}
	})
	t.Run("concurrent_puts_leave_one_whole_blob", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				body := bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
				if err := s.Put(t.Context(), "suite/race/r", bytes.NewReader(body)); err != nil {
					t.Errorf("put %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		got, _ := read(t, s, "suite/race/r", 0, 0)
		if len(got) != 64<<10 || bytes.Count(got, got[:1]) != len(got) {
			t.Fatalf("blob mixes writers or is short: %d bytes", len(got))
		}
	})
}

func put(t *testing.T, s blobstore.Store, key string, body []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(body)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func read(t *testing.T, s blobstore.Store, key string, offset, length int64) ([]byte, blobstore.Info) {
	t.Helper()
	rc, info, err := s.Open(t.Context(), key, offset, length)
	if err != nil {
		t.Fatalf("Open(%q, %d, %d): %v", key, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b, info
}
