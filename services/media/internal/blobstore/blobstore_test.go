package blobstore_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/connectengine/photoshoot/services/media/internal/blobstore"
	"github.com/connectengine/photoshoot/services/media/internal/blobstore/blobstoretest"
)

func TestDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := blobstore.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	blobstoretest.RunSuite(t, d)

	// A crash mid-Put leaves a temporary file that is never listed.
	if err := os.WriteFile(filepath.Join(dir, "suite", "list", ".tmp-crashed"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for info, err := range d.List(t.Context(), "suite/list/") {
		if err != nil || filepath.Base(info.Key) == ".tmp-crashed" {
			t.Fatalf("List yielded %+v, %v", info, err)
		}
	}
}

func TestS3(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	if err := backend.CreateBucket("media"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	s, err := blobstore.NewS3(blobstore.S3Config{
		Endpoint:        srv.URL,
		Bucket:          "media",
		Region:          "us-east-1",
		AccessKeyID:     "test",
		SecretAccessKey: "test",
		PathStyle:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	blobstoretest.RunSuite(t, s)
}
