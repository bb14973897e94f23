package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"image/jpeg"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/platform/platformtest"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/pkg/rpc"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/media/internal/app"
	"github.com/connectengine/photoshoot/services/media/internal/gallery"
	"github.com/connectengine/photoshoot/services/media/internal/photo"
	"github.com/connectengine/photoshoot/services/media/internal/photo/phototest"
)

// env is a running media service with its own database, NATS and blob
// directory, and clients for users and services.
type env struct {
	client     mediav1.MediaServiceClient
	signer     *authn.Signer
	signingKey []byte
	mediaDir   string
	tmpDir     string
	nats       string
	addr       string
}

func start(t *testing.T) *env {
	t.Helper()
	secret, signingKey := randomHex(t), randomHex(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := authn.NewSigner("test-key", priv, platform.TokenIssuer, platform.TokenAudience, authn.MaxTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	ns := eventstest.New(t)
	e := &env{signer: signer, mediaDir: t.TempDir(), tmpDir: t.TempDir(), nats: ns.URL()}
	e.signingKey, _ = hex.DecodeString(signingKey)
	vars := map[string]string{
		"DATABASE_URL":        postgrestest.NewDatabase(t),
		"NATS_URL":            ns.URL(),
		"ACCOUNT_ADDR":        "127.0.0.1:1",
		"SERVICE_AUTH_SECRET": secret,
		"MEDIA_SIGNING_KEY":   signingKey,
		"MEDIA_DIR":           e.mediaDir,
		"MEDIA_TMP_DIR":       e.tmpDir,
		"PUBLIC_URL":          "http://photos.test",
		"LOG_FORMAT":          "text",
	}
	cfg, err := app.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys = func(context.Context) ([]authn.PublicKey, error) { return []authn.PublicKey{signer.PublicKey()}, nil }
	cfg.LogWriter = io.Discard
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := platformtest.Serve(t, a.Serve)
	raw, _ := hex.DecodeString(secret)
	token, err := authn.NewServiceToken(raw, "test")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(srv.Addr, rpc.ClientOptions{Service: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	platformtest.WaitServing(t, conn)
	e.client = mediav1.NewMediaServiceClient(conn)
	e.addr = srv.Addr
	return e
}

func randomHex(t *testing.T) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// as returns ctx carrying userID's access token; no credentials for "".
func (e *env) as(t *testing.T, userID string) context.Context {
	t.Helper()
	if userID == "" {
		return t.Context()
	}
	tok, err := e.signer.Sign(authn.Caller{UserID: userID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

func (e *env) upload(t *testing.T, userID, fileName string, data []byte) (*mediav1.Image, error) {
	t.Helper()
	stream, err := e.client.UploadImage(e.as(t, userID))
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&mediav1.UploadImageRequest{Part: &mediav1.UploadImageRequest_Metadata{
		Metadata: &mediav1.UploadMetadata{FileName: fileName, ContentType: "image/png"},
	}}); err != nil {
		return nil, err
	}
	for len(data) > 0 {
		n := min(len(data), 64<<10)
		if err := stream.Send(&mediav1.UploadImageRequest{Part: &mediav1.UploadImageRequest_Chunk{Chunk: data[:n]}}); err != nil {
			break // the server ended the call; CloseAndRecv has its status
		}
		data = data[n:]
	}
	resp, err := stream.CloseAndRecv()
	return resp.GetImage(), err
}

func (e *env) store(t *testing.T, md *mediav1.StoreMetadata, data []byte) (*mediav1.Image, error) {
	t.Helper()
	stream, err := e.client.StoreImage(t.Context())
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&mediav1.StoreImageRequest{Part: &mediav1.StoreImageRequest_Metadata{Metadata: md}}); err != nil {
		return nil, err
	}
	for len(data) > 0 {
		n := min(len(data), 64<<10)
		if err := stream.Send(&mediav1.StoreImageRequest{Part: &mediav1.StoreImageRequest_Chunk{Chunk: data[:n]}}); err != nil {
			break
		}
		data = data[n:]
	}
	resp, err := stream.CloseAndRecv()
	return resp.GetImage(), err
}

type readResult struct {
	header *mediav1.ReadImageHeader
	body   []byte
}

func (e *env) read(ctx context.Context, req *mediav1.ReadImageRequest) (readResult, error) {
	stream, err := e.client.ReadImage(ctx, req)
	if err != nil {
		return readResult{}, err
	}
	var r readResult
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return r, nil
		}
		if err != nil {
			return readResult{}, err
		}
		if h := m.GetHeader(); h != nil {
			r.header = h
		}
		r.body = append(r.body, m.GetChunk()...)
	}
}

func code(err error) codes.Code { return status.Code(err) }

// violationField is the field of the first BadRequest violation.
func violationField(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// blobFiles lists the files under the media directory.
func (e *env) blobFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	_ = filepath.WalkDir(e.mediaDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

func TestUpload_badFilesLeaveNoRowAndNoBlob(t *testing.T) {
	t.Parallel()
	e := start(t)
	huge := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 26<<20)...)
	for name, c := range map[string]struct {
		data  []byte
		code  codes.Code
		field string
	}{
		"png_bomb_60000x60000": {phototest.PNGBomb(), codes.InvalidArgument, gallery.FieldContent},
		"truncated_jpeg":       {phototest.TruncatedJPEG(t), codes.InvalidArgument, gallery.FieldContent},
		"zero_bytes":           {nil, codes.InvalidArgument, gallery.FieldContent},
		"26_mb_body":           {huge, codes.ResourceExhausted, ""},
		"svg":                  {phototest.SVG(), codes.InvalidArgument, gallery.FieldContentType},
		"jpeg_zip_polyglot":    {phototest.Polyglot(t), codes.InvalidArgument, gallery.FieldContentType},
		"html_as_image":        {phototest.HTML(), codes.InvalidArgument, gallery.FieldContentType},
		"gif":                  {phototest.GIF(), codes.InvalidArgument, gallery.FieldContentType},
		"heic":                 {phototest.HEIC(), codes.InvalidArgument, gallery.FieldContentType},
		"pdf":                  {phototest.PDF(), codes.InvalidArgument, gallery.FieldContentType},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.upload(t, "user-bad", "x.png", c.data)
			if code(err) != c.code || violationField(err) != c.field {
				t.Fatalf("upload: %v (field %q), want %v (field %q)", code(err), violationField(err), c.code, c.field)
			}
		})
	}
	list, err := e.client.ListImages(e.as(t, "user-bad"), &mediav1.ListImagesRequest{})
	if err != nil || len(list.GetImages()) != 0 {
		t.Fatalf("rows after bad uploads: %v, %v", list.GetImages(), err)
	}
	if files := e.blobFiles(t); len(files) != 0 {
		t.Fatalf("blobs after bad uploads: %v", files)
	}

	// A valid PNG declared as something else is accepted: the bytes decide.
	img, err := e.upload(t, "user-bad", "photo.gif", phototest.PNG(t, 30, 20))
	if err != nil {
		t.Fatal(err)
	}
	if img.GetContentType() != "image/png" || img.GetWidth() != 30 || img.GetHeight() != 20 {
		t.Fatalf("stored %v", img)
	}
	// Spooled uploads and re-encoded originals are gone once answered.
	if left, err := os.ReadDir(e.tmpDir); err != nil || len(left) != 0 {
		t.Fatalf("temporary files left: %v (%v)", left, err)
	}
}

func TestUpload_rotatedPhotoWithGPSIsStoredUprightWithoutIt(t *testing.T) {
	t.Parallel()
	e := start(t)
	img, err := e.upload(t, "user-a", "IMG_0001.JPG", phototest.RotatedWithGPS(t, 1200, 600))
	if err != nil {
		t.Fatal(err)
	}
	if img.GetWidth() != 600 || img.GetHeight() != 1200 || img.GetKind() != mediav1.ImageKind_IMAGE_KIND_UPLOAD {
		t.Fatalf("record %v", img)
	}
	r, err := e.read(e.as(t, "user-a"), &mediav1.ReadImageRequest{ImageId: img.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(r.body, phototest.GPSLatitude) || bytes.Contains(r.body, []byte("Exif")) {
		t.Fatal("the stored original keeps EXIF/GPS")
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(r.body))
	if err != nil || cfg.Width != 600 || cfg.Height != 1200 {
		t.Fatalf("stored %dx%d (%v), want upright 600x1200", cfg.Width, cfg.Height, err)
	}
	if int64(len(r.body)) != img.GetSizeBytes() || r.header.GetSizeBytes() != img.GetSizeBytes() {
		t.Fatalf("read %d bytes, header %d, record %d", len(r.body), r.header.GetSizeBytes(), img.GetSizeBytes())
	}
	thumb, err := e.read(e.as(t, "user-a"), &mediav1.ReadImageRequest{ImageId: img.GetId(), Variant: mediav1.Variant_VARIANT_THUMBNAIL})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb.body)); err != nil || cfg.Width != 256 || cfg.Height != 512 {
		t.Fatalf("thumbnail %dx%d (%v), want 256x512", cfg.Width, cfg.Height, err)
	}
}

func TestRead_rangesFormatsAndETags(t *testing.T) {
	t.Parallel()
	e := start(t)
	img, err := e.upload(t, "user-a", "shoe.png", phototest.PNG(t, 300, 200))
	if err != nil {
		t.Fatal(err)
	}
	ctx := e.as(t, "user-a")
	full, err := e.read(ctx, &mediav1.ReadImageRequest{ImageId: img.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	part, err := e.read(ctx, &mediav1.ReadImageRequest{ImageId: img.GetId(), Offset: 10, Length: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(part.body, full.body[10:110]) || part.header.GetSizeBytes() != int64(len(full.body)) || part.header.GetEtag() != full.header.GetEtag() {
		t.Fatalf("range read %d bytes, size %d, etag %s vs %s", len(part.body), part.header.GetSizeBytes(), part.header.GetEtag(), full.header.GetEtag())
	}
	past, err := e.read(ctx, &mediav1.ReadImageRequest{ImageId: img.GetId(), Offset: int64(len(full.body))})
	if err != nil || len(past.body) != 0 {
		t.Fatalf("read past the end: %d bytes, %v", len(past.body), err)
	}
	for _, f := range []string{"jpeg", "webp", "png"} {
		r, err := e.read(ctx, &mediav1.ReadImageRequest{ImageId: img.GetId(), Format: f})
		if err != nil {
			t.Fatal(err)
		}
		got, err := photo.Sniff(r.body)
		if err != nil || got.String() != f || r.header.GetContentType() != got.ContentType() {
			t.Errorf("format %s: got %s (%v), header %s", f, got, err, r.header.GetContentType())
		}
		if !strings.HasSuffix(r.header.GetFileName(), got.Ext()) {
			t.Errorf("format %s: file name %q", f, r.header.GetFileName())
		}
		again, err := e.read(ctx, &mediav1.ReadImageRequest{ImageId: img.GetId(), Format: f})
		if err != nil || !bytes.Equal(again.body, r.body) || again.header.GetEtag() != r.header.GetEtag() {
			t.Errorf("format %s: second read differs (%v)", f, err)
		}
	}
	if _, err := e.read(ctx, &mediav1.ReadImageRequest{ImageId: img.GetId(), Format: "tiff"}); code(err) != codes.InvalidArgument {
		t.Errorf("format tiff: %v", err)
	}
	if _, err := e.read(t.Context(), &mediav1.ReadImageRequest{ImageId: img.GetId()}); code(err) != codes.Unauthenticated {
		t.Errorf("read without a session or signature: %v", err)
	}
}

// signedParams extracts expires and signature from a signed URL.
func signedParams(t *testing.T, raw string) (int64, string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := strconv.ParseInt(u.Query().Get("expires"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return exp, u.Query().Get("signature")
}

func TestCrossUser_everythingOfAnotherUserIsNotFound(t *testing.T) {
	t.Parallel()
	e := start(t)
	a, err := e.upload(t, "user-a", "a.jpg", phototest.JPEG(t, 64, 64))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.upload(t, "user-b", "b.jpg", phototest.JPEG(t, 64, 64))
	if err != nil {
		t.Fatal(err)
	}
	asB := e.as(t, "user-b")
	bExp, bSig := signedParams(t, b.GetContentUrl())
	aExp, aSig := signedParams(t, a.GetContentUrl())
	_, aThumbSig := signedParams(t, a.GetThumbnailUrl())
	past := time.Now().Add(-time.Minute)
	far := time.Now().Add(time.Hour)
	signer := gallery.NewSigner(e.signingKey)

	checks := map[string]func() error{
		"get": func() error {
			_, err := e.client.GetImage(asB, &mediav1.GetImageRequest{ImageId: a.GetId()})
			return err
		},
		"read_original": func() error {
			_, err := e.read(asB, &mediav1.ReadImageRequest{ImageId: a.GetId()})
			return err
		},
		"read_thumbnail": func() error {
			_, err := e.read(asB, &mediav1.ReadImageRequest{ImageId: a.GetId(), Variant: mediav1.Variant_VARIANT_THUMBNAIL})
			return err
		},
		"download_as_webp": func() error {
			_, err := e.read(asB, &mediav1.ReadImageRequest{ImageId: a.GetId(), Format: "webp"})
			return err
		},
		"delete": func() error {
			_, err := e.client.DeleteImage(asB, &mediav1.DeleteImageRequest{ImageId: a.GetId()})
			return err
		},
		"fetch_on_behalf_of_b": func() error {
			s, err := e.client.FetchImage(t.Context(), &mediav1.FetchImageRequest{UserId: "user-b", ImageId: a.GetId()})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"sign_on_behalf_of_b": func() error {
			_, err := e.client.SignImageUrl(t.Context(), &mediav1.SignImageUrlRequest{UserId: "user-b", ImageId: a.GetId()})
			return err
		},
		"b_signature_reused_on_a_image": func() error {
			_, err := e.read(asB, &mediav1.ReadImageRequest{ImageId: a.GetId(), Expires: bExp, Signature: bSig})
			return err
		},
		"thumbnail_signature_used_for_original": func() error {
			_, err := e.read(t.Context(), &mediav1.ReadImageRequest{ImageId: a.GetId(), Expires: aExp, Signature: aThumbSig})
			return err
		},
		"tampered_signature": func() error {
			sig := []byte(aSig)
			sig[3] ^= 1
			_, err := e.read(t.Context(), &mediav1.ReadImageRequest{ImageId: a.GetId(), Expires: aExp, Signature: string(sig)})
			return err
		},
		"tampered_expiry": func() error {
			_, err := e.read(t.Context(), &mediav1.ReadImageRequest{ImageId: a.GetId(), Expires: aExp + 60, Signature: aSig})
			return err
		},
		"expired_signature": func() error {
			_, err := e.read(t.Context(), &mediav1.ReadImageRequest{ImageId: a.GetId(), Expires: past.Unix(), Signature: signer.Sign(a.GetId(), gallery.VariantOriginal, past)})
			return err
		},
		"signature_beyond_15_minutes": func() error {
			_, err := e.read(t.Context(), &mediav1.ReadImageRequest{ImageId: a.GetId(), Expires: far.Unix(), Signature: signer.Sign(a.GetId(), gallery.VariantOriginal, far)})
			return err
		},
		"unknown_image": func() error {
			_, err := e.client.GetImage(asB, &mediav1.GetImageRequest{ImageId: "0190b5d6-0000-7000-8000-000000000000"})
			return err
		},
	}
	for name, check := range checks {
		if err := check(); code(err) != codes.NotFound {
			t.Errorf("%s: %v, want NotFound", name, err)
		}
	}
	list, err := e.client.ListImages(asB, &mediav1.ListImagesRequest{})
	if err != nil || len(list.GetImages()) != 1 || list.GetImages()[0].GetId() != b.GetId() {
		t.Errorf("B's list: %v, %v", list.GetImages(), err)
	}
	// A's own signed URL works without a session, and A's image survived.
	if r, err := e.read(t.Context(), &mediav1.ReadImageRequest{ImageId: a.GetId(), Expires: aExp, Signature: aSig}); err != nil || int64(len(r.body)) != a.GetSizeBytes() {
		t.Errorf("A's signed URL: %v", err)
	}
	resp, err := e.client.SignImageUrl(t.Context(), &mediav1.SignImageUrlRequest{UserId: "user-a", ImageId: a.GetId(), Variant: mediav1.Variant_VARIANT_PREVIEW, TtlSeconds: 3600})
	if err != nil || resp.GetExpireTime().AsTime().After(time.Now().Add(15*time.Minute+time.Second)) || !strings.HasPrefix(resp.GetUrl(), "http://photos.test/v1/images/"+a.GetId()+"/content?") {
		t.Errorf("SignImageUrl: %v, %v", resp, err)
	}
}

func TestList_pagesByKindWithTamperEvidentTokens(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := e.as(t, "user-a")
	var uploads []string
	for range 5 {
		img, err := e.upload(t, "user-a", "p.png", phototest.PNG(t, 16, 16))
		if err != nil {
			t.Fatal(err)
		}
		uploads = append(uploads, img.GetId())
	}
	gen, err := e.store(t, &mediav1.StoreMetadata{UserId: "user-a", Kind: mediav1.ImageKind_IMAGE_KIND_GENERATED, ParentImageId: uploads[0], JobId: "job-1"}, phototest.PNG(t, 16, 16))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	token := ""
	for {
		page, err := e.client.ListImages(ctx, &mediav1.ListImagesRequest{PageSize: 2, PageToken: token, Kind: mediav1.ImageKind_IMAGE_KIND_UPLOAD})
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range page.GetImages() {
			seen = append(seen, img.GetId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
		if _, err := e.client.ListImages(ctx, &mediav1.ListImagesRequest{PageSize: 2, PageToken: token + "x", Kind: mediav1.ImageKind_IMAGE_KIND_UPLOAD}); code(err) != codes.InvalidArgument {
			t.Errorf("tampered token: %v", err)
		}
		if _, err := e.client.ListImages(e.as(t, "user-b"), &mediav1.ListImagesRequest{PageSize: 2, PageToken: token, Kind: mediav1.ImageKind_IMAGE_KIND_UPLOAD}); code(err) != codes.InvalidArgument {
			t.Errorf("another user's token: %v", err)
		}
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d uploads, want 5", len(seen))
	}
	for i, id := range seen {
		if id != uploads[4-i] {
			t.Fatalf("order %v, want newest first %v", seen, uploads)
		}
	}
	gens, err := e.client.ListImages(ctx, &mediav1.ListImagesRequest{Kind: mediav1.ImageKind_IMAGE_KIND_GENERATED})
	if err != nil || len(gens.GetImages()) != 1 || gens.GetImages()[0].GetId() != gen.GetId() {
		t.Fatalf("generated: %v, %v", gens.GetImages(), err)
	}

	// A mask is the user's, listed when asked for by kind, but not in the
	// gallery's unfiltered list of uploads and generated images.
	mask, err := e.store(t, &mediav1.StoreMetadata{UserId: "user-a", Kind: mediav1.ImageKind_IMAGE_KIND_MASK, ParentImageId: uploads[0]}, phototest.PNG(t, 16, 16))
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.client.ListImages(ctx, &mediav1.ListImagesRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[mediav1.ImageKind]int{}
	for _, img := range all.GetImages() {
		kinds[img.GetKind()]++
	}
	if want := map[mediav1.ImageKind]int{mediav1.ImageKind_IMAGE_KIND_UPLOAD: 5, mediav1.ImageKind_IMAGE_KIND_GENERATED: 1}; !maps.Equal(kinds, want) {
		t.Errorf("unfiltered list has %v, want %v", kinds, want)
	}
	masks, err := e.client.ListImages(ctx, &mediav1.ListImagesRequest{Kind: mediav1.ImageKind_IMAGE_KIND_MASK})
	if err != nil || len(masks.GetImages()) != 1 || masks.GetImages()[0].GetId() != mask.GetId() {
		t.Errorf("masks: %v, %v", masks.GetImages(), err)
	}
}

func TestStoreAndDelete_generatedImagesCarryProvenanceAndOutliveTheirUpload(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := e.as(t, "user-a")
	up, err := e.upload(t, "user-a", "bottle.jpg", phototest.JPEG(t, 200, 200))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		composite bool
		data      []byte
		want      string
	}{
		{false, phototest.PNG(t, 100, 100), photo.DigitalSourceTrainedAlgorithmic},
		{true, phototest.JPEG(t, 100, 100), photo.DigitalSourceCompositeTrainedAlgorithmic},
		{true, phototest.WebP(t, 100, 100), photo.DigitalSourceCompositeTrainedAlgorithmic},
	} {
		gen, err := e.store(t, &mediav1.StoreMetadata{UserId: "user-a", Kind: mediav1.ImageKind_IMAGE_KIND_GENERATED, ParentImageId: up.GetId(), JobId: "job-1", Composite: c.composite}, c.data)
		if err != nil {
			t.Fatal(err)
		}
		if gen.GetDigitalSourceType() != c.want {
			t.Errorf("record says %q, want %q", gen.GetDigitalSourceType(), c.want)
		}
		for _, f := range []string{"", "jpeg", "png"} {
			r, err := e.read(ctx, &mediav1.ReadImageRequest{ImageId: gen.GetId(), Format: f})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(r.body, []byte("<Iptc4xmpExt:DigitalSourceType>"+c.want+"<")) {
				t.Errorf("%s as %q carries no DigitalSourceType %s", gen.GetContentType(), f, c.want)
			}
		}
	}
	if _, err := e.store(t, &mediav1.StoreMetadata{UserId: "user-a", Kind: mediav1.ImageKind_IMAGE_KIND_UPLOAD}, phototest.PNG(t, 8, 8)); code(err) != codes.InvalidArgument {
		t.Errorf("store as upload: %v", err)
	}
	export, err := e.store(t, &mediav1.StoreMetadata{UserId: "user-a", Kind: mediav1.ImageKind_IMAGE_KIND_EXPORT}, phototest.Zip(t))
	if err != nil || export.GetContentType() != "application/zip" {
		t.Fatalf("store export: %v, %v", export, err)
	}

	mask, err := e.store(t, &mediav1.StoreMetadata{UserId: "user-a", Kind: mediav1.ImageKind_IMAGE_KIND_MASK, ParentImageId: up.GetId()}, phototest.PNG(t, 200, 200))
	if err != nil {
		t.Fatal(err)
	}

	// Deleting the upload deletes the masks made of it, not what was
	// generated from it.
	del, err := e.client.DeleteImage(ctx, &mediav1.DeleteImageRequest{ImageId: up.GetId()})
	if err != nil || del.GetKeptGeneratedCount() != 3 {
		t.Fatalf("delete upload: %v, %v", del, err)
	}
	for _, id := range []string{up.GetId(), mask.GetId()} {
		if _, err := e.client.GetImage(ctx, &mediav1.GetImageRequest{ImageId: id}); code(err) != codes.NotFound {
			t.Errorf("get deleted %s: %v", id, err)
		}
	}
	if _, err := e.client.DeleteImage(ctx, &mediav1.DeleteImageRequest{ImageId: up.GetId()}); code(err) != codes.NotFound {
		t.Errorf("delete twice: %v", err)
	}
	for _, f := range e.blobFiles(t) {
		if strings.Contains(f, up.GetId()) || strings.Contains(f, mask.GetId()) {
			t.Errorf("blob of the deleted upload or its mask left: %s", f)
		}
	}
	exp, err := e.client.ExportUserData(t.Context(), &mediav1.ExportUserDataRequest{UserId: "user-a"})
	if err != nil || len(exp.GetImages()) != 4 {
		t.Fatalf("export: %d images, %v", len(exp.GetImages()), err)
	}
}

func TestEvents_uploadDeleteAndUserPurge(t *testing.T) {
	t.Parallel()
	e := start(t)
	nc, err := nats.Connect(e.nats)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	img, err := e.upload(t, "user-gone", "a.png", phototest.PNG(t, 10, 10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.upload(t, "user-stays", "b.png", phototest.PNG(t, 10, 10)); err != nil {
		t.Fatal(err)
	}
	var uploaded eventsv1.ImageUploaded
	waitEvent(t, js, events.SubjectImageUploaded, &uploaded, func() bool { return uploaded.GetImageId() == img.GetId() })
	if uploaded.GetUserId() != "user-gone" || uploaded.GetWidth() != 10 {
		t.Errorf("uploaded event %v", &uploaded)
	}

	payload, _ := proto.Marshal(&eventsv1.UserDeleted{UserId: "user-gone", DeletionId: "del-1"})
	if _, err := js.Publish(t.Context(), events.SubjectUserDeleted, payload, jetstream.WithMsgID("0190b5d6-0000-7000-8000-0000000000aa")); err != nil {
		t.Fatal(err)
	}
	var purged eventsv1.UserDataPurged
	waitEvent(t, js, events.SubjectMediaUserPurged, &purged, func() bool { return purged.GetDeletionId() == "del-1" })
	if purged.GetUserId() != "user-gone" || purged.GetService() != "media" {
		t.Errorf("purged event %v", &purged)
	}
	if _, err := e.client.GetImage(e.as(t, "user-gone"), &mediav1.GetImageRequest{ImageId: img.GetId()}); code(err) != codes.NotFound {
		t.Errorf("image of the deleted user: %v", err)
	}
	// An image that arrives for the user after the purge (an analysis mask
	// or a generated shot still in flight) is refused and leaves nothing.
	_, err = e.store(t, &mediav1.StoreMetadata{UserId: "user-gone", Kind: mediav1.ImageKind_IMAGE_KIND_MASK, ParentImageId: img.GetId()}, phototest.PNG(t, 10, 10))
	if code(err) != codes.FailedPrecondition {
		t.Errorf("store for a purged user: %v, want FailedPrecondition", err)
	}
	if _, err := e.upload(t, "user-gone", "late.png", phototest.PNG(t, 10, 10)); code(err) != codes.FailedPrecondition {
		t.Errorf("upload for a purged user: %v, want FailedPrecondition", err)
	}
	for _, f := range e.blobFiles(t) {
		if strings.Contains(f, "user-gone") {
			t.Errorf("blob of the deleted user left: %s", f)
		}
	}
	if list, err := e.client.ListImages(e.as(t, "user-stays"), &mediav1.ListImagesRequest{}); err != nil || len(list.GetImages()) != 1 {
		t.Errorf("other user's images: %v, %v", list.GetImages(), err)
	}
	if _, err := e.client.DeleteImage(e.as(t, "user-stays"), &mediav1.DeleteImageRequest{ImageId: mustFirst(t, e, "user-stays")}); err != nil {
		t.Fatal(err)
	}
	var deleted eventsv1.ImageDeleted
	waitEvent(t, js, events.SubjectImageDeleted, &deleted, func() bool { return deleted.GetUserId() == "user-stays" })
}

func mustFirst(t *testing.T, e *env, userID string) string {
	t.Helper()
	list, err := e.client.ListImages(e.as(t, userID), &mediav1.ListImagesRequest{})
	if err != nil || len(list.GetImages()) == 0 {
		t.Fatalf("list %s: %v", userID, err)
	}
	return list.GetImages()[0].GetId()
}

// waitEvent reads subject from the MEDIA stream until done reports the
// decoded message is the one wanted, or a deadline passes.
func waitEvent(t *testing.T, js jetstream.JetStream, subject string, dst proto.Message, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var cons jetstream.Consumer
	var err error
	for cons == nil {
		cons, err = js.OrderedConsumer(ctx, events.StreamMedia, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("consumer on %s: %v", subject, err)
			}
			time.Sleep(50 * time.Millisecond) // the service is still creating its streams
			cons = nil
		}
	}
	for {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("no matching %s event: %v", subject, err)
		}
		if err := proto.Unmarshal(msg.Data(), dst); err != nil {
			t.Fatal(err)
		}
		if done() {
			return
		}
	}
}

func TestDiscardJobImages_deletesTheJobsUncommittedOutputsOnly(t *testing.T) {
	t.Parallel()
	e := start(t)
	up, err := e.upload(t, "user-a", "bottle.png", phototest.PNG(t, 32, 32))
	if err != nil {
		t.Fatal(err)
	}
	storeAs := func(userID string, kind mediav1.ImageKind, jobID string) *mediav1.Image {
		t.Helper()
		img, err := e.store(t, &mediav1.StoreMetadata{UserId: userID, Kind: kind, ParentImageId: up.GetId(), JobId: jobID}, phototest.PNG(t, 24, 24))
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	gen := mediav1.ImageKind_IMAGE_KIND_GENERATED
	committed := storeAs("user-a", gen, "job-1")
	orphans := []*mediav1.Image{storeAs("user-a", gen, "job-1"), storeAs("user-a", gen, "job-1")}
	survivors := map[string]*mediav1.Image{
		"upload":                 up,
		"committed_output":       committed,
		"other_job":              storeAs("user-a", gen, "job-2"),
		"mask_of_the_job":        storeAs("user-a", mediav1.ImageKind_IMAGE_KIND_MASK, "job-1"),
		"other_user_same_job_id": storeAs("user-b", gen, "job-1"),
	}

	for name, req := range map[string]*mediav1.DiscardJobImagesRequest{
		"no_user":         {JobId: "job-1"},
		"no_job":          {UserId: "user-a"},
		"keep_not_an_id":  {UserId: "user-a", JobId: "job-1", KeepImageIds: []string{committed.GetId(), "img-1"}},
		"user_with_slash": {UserId: "user-a/../user-b", JobId: "job-1"},
	} {
		if _, err := e.client.DiscardJobImages(t.Context(), req); code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	// Internal: a user's token alone does not reach it.
	userConn, err := rpc.Dial(e.addr, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { userConn.Close() })
	if _, err := mediav1.NewMediaServiceClient(userConn).DiscardJobImages(e.as(t, "user-a"), &mediav1.DiscardJobImagesRequest{UserId: "user-a", JobId: "job-1"}); code(err) != codes.Unauthenticated {
		t.Fatalf("without a service credential: %v, want Unauthenticated", err)
	}

	resp, err := e.client.DiscardJobImages(t.Context(), &mediav1.DiscardJobImagesRequest{UserId: "user-a", JobId: "job-1", KeepImageIds: []string{committed.GetId()}})
	if err != nil || resp.GetDeletedCount() != 2 {
		t.Fatalf("discard: %v, %v, want 2 deleted", resp, err)
	}
	for _, img := range orphans {
		if _, err := e.client.GetImage(e.as(t, "user-a"), &mediav1.GetImageRequest{ImageId: img.GetId()}); code(err) != codes.NotFound {
			t.Errorf("discarded image %s: %v, want NotFound", img.GetId(), err)
		}
		for _, f := range e.blobFiles(t) {
			if strings.Contains(f, img.GetId()) {
				t.Errorf("blob of a discarded image left: %s", f)
			}
		}
	}
	checkSurvivors := func() {
		t.Helper()
		for name, img := range survivors {
			owner := "user-a"
			if name == "other_user_same_job_id" {
				owner = "user-b"
			}
			if _, err := e.read(e.as(t, owner), &mediav1.ReadImageRequest{ImageId: img.GetId(), Variant: mediav1.Variant_VARIANT_THUMBNAIL}); err != nil {
				t.Errorf("%s: %v, want it kept", name, err)
			}
		}
	}
	checkSurvivors()

	// What DeleteImage emits, once per discarded image.
	nc, err := nats.Connect(e.nats)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{orphans[0].GetId(): true, orphans[1].GetId(): true}
	var deleted eventsv1.ImageDeleted
	waitEvent(t, js, events.SubjectImageDeleted, &deleted, func() bool {
		if deleted.GetUserId() == "user-a" {
			delete(want, deleted.GetImageId())
		}
		return len(want) == 0
	})

	again, err := e.client.DiscardJobImages(t.Context(), &mediav1.DiscardJobImagesRequest{UserId: "user-a", JobId: "job-1", KeepImageIds: []string{committed.GetId()}})
	if err != nil || again.GetDeletedCount() != 0 {
		t.Fatalf("second discard: %v, %v, want 0 deleted", again, err)
	}
	checkSurvivors()

	// The job ended without a committed output: nothing is kept.
	all, err := e.client.DiscardJobImages(t.Context(), &mediav1.DiscardJobImagesRequest{UserId: "user-a", JobId: "job-1"})
	if err != nil || all.GetDeletedCount() != 1 {
		t.Fatalf("discard without keep: %v, %v, want 1 deleted", all, err)
	}
	delete(survivors, "committed_output")
	checkSurvivors()
	if _, err := e.client.GetImage(e.as(t, "user-a"), &mediav1.GetImageRequest{ImageId: committed.GetId()}); code(err) != codes.NotFound {
		t.Errorf("output after discarding the whole job: %v, want NotFound", err)
	}
}
