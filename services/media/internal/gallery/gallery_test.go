package gallery_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/services/media/internal/blobstore"
	"github.com/connectengine/photoshoot/services/media/internal/gallery"
	"github.com/connectengine/photoshoot/services/media/internal/photo/phototest"
	"github.com/connectengine/photoshoot/services/media/internal/store"
)

func newService(t *testing.T) (*gallery.Service, *blobstore.Disk, *pgxpool.Pool) {
	t.Helper()
	pool := postgrestest.New(t,
		postgrestest.Migrations{FS: events.Migrations, VersionTable: events.MigrationsVersionTable},
		postgrestest.Migrations{FS: store.Migrations, VersionTable: platform.ServiceMigrationsTable})
	blobs, err := blobstore.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	svc, err := gallery.NewService(store.New(pool), blobs, slog.New(slog.DiscardHandler), gallery.Config{
		TempDir: t.TempDir(), SigningKey: key, PublicURL: "http://photos.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, blobs, pool
}

func keys(t *testing.T, blobs blobstore.Store) []string {
	t.Helper()
	var out []string
	for info, err := range blobs.List(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, info.Key)
	}
	return out
}

// TestSweep_crashBetweenBlobWriteAndCommitLeavesNoOrphan puts the store in
// the state a crash leaves: an image's blobs written, its row never
// committed (the row is removed under the service). One sweep past the
// grace period removes exactly those blobs.
func TestSweep_crashBetweenBlobWriteAndCommitLeavesNoOrphan(t *testing.T) {
	t.Parallel()
	svc, blobs, pool := newService(t)
	kept, err := svc.Add(t.Context(), gallery.NewImage{UserID: "u1", Kind: gallery.KindUpload}, bytes.NewReader(phototest.PNG(t, 20, 20)))
	if err != nil {
		t.Fatal(err)
	}
	crashed, err := svc.Add(t.Context(), gallery.NewImage{UserID: "u1", Kind: gallery.KindUpload}, bytes.NewReader(phototest.JPEG(t, 20, 20)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), "DELETE FROM images WHERE id = $1", crashed.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(keys(t, blobs)); n != 6 {
		t.Fatalf("%d blobs before the sweep, want 6", n)
	}

	// Within the grace period nothing goes: the upload might be in flight.
	if n, err := svc.Sweep(t.Context(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep within grace removed %d (%v)", n, err)
	}
	n, err := svc.Sweep(t.Context(), time.Now().Add(time.Second))
	if err != nil || n != 3 {
		t.Fatalf("sweep removed %d (%v), want the 3 orphans", n, err)
	}
	left := keys(t, blobs)
	if len(left) != 3 {
		t.Fatalf("left %v", left)
	}
	for _, k := range left {
		if !strings.Contains(k, kept.ID) {
			t.Errorf("kept blob %s is not the committed image's", k)
		}
	}
	rc, _, err := blobs.Open(t.Context(), "users/u1/"+kept.ID+"/original", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); int64(len(b)) != kept.Size {
		t.Fatalf("kept original has %d bytes, want %d", len(b), kept.Size)
	}
}
