package gallery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/semaphore"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/media/internal/blobstore"
	"github.com/connectengine/photoshoot/services/media/internal/photo"
)

// Limits on what comes in.
const (
	// MaxUploadBytes bounds an image's file, uploaded or stored.
	MaxUploadBytes = 25 << 20
	// MaxExportBytes bounds a data-export zip.
	MaxExportBytes = 2 << 30
)

// Fields named in InvalidArgument violations. The gateway answers 415 for
// FieldContentType and 400 for the others.
const (
	FieldContentType = "content_type"
	FieldContent     = "content"
)

// Config configures a Service.
type Config struct {
	// TempDir holds uploads while they are checked; os.TempDir() when empty.
	TempDir string
	// SigningKey signs URLs (MEDIA_SIGNING_KEY).
	SigningKey []byte
	// PublicURL is where the gateway is reached, for signed URLs.
	PublicURL string
	// DecodeMemory bounds the memory that decodes in flight may hold, in
	// bytes: each is admitted by photo's estimate of its peak (from the
	// header, before decoding), and one larger than the whole budget runs
	// alone. DefaultDecodeMemory when 0.
	DecodeMemory int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Service is the gallery's use cases.
type Service struct {
	repo   Repository
	blobs  blobstore.Store
	logger *slog.Logger
	signer *Signer
	cfg    Config
	decode *semaphore.Weighted
}

// DefaultDecodeMemory is the default decode budget: one 50-megapixel
// image of the heavier kinds (a progressive JPEG, an RGBA PNG) at a time,
// or several photos of a usual size, within a 1 GiB pod with room for
// the garbage collector.
const DefaultDecodeMemory = 256 << 20

// NewService returns the service.
func NewService(repo Repository, blobs blobstore.Store, logger *slog.Logger, cfg Config) (*Service, error) {
	if len(cfg.SigningKey) < 32 {
		return nil, errors.New("gallery: signing key must be at least 32 bytes")
	}
	if cfg.DecodeMemory <= 0 {
		cfg.DecodeMemory = DefaultDecodeMemory
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	return &Service{
		repo:   repo,
		blobs:  blobs,
		logger: logger,
		signer: NewSigner(cfg.SigningKey),
		cfg:    cfg,
		decode: semaphore.NewWeighted(cfg.DecodeMemory),
	}, nil
}

// NewImage describes an image being stored.
type NewImage struct {
	UserID   string
	Kind     Kind
	ParentID string
	JobID    string
	FileName string
	// Composite marks a generated image made of real product pixels over a
	// generated scene.
	Composite bool
}

// Add takes an image in: the body is spooled to a temporary file (up to the
// size limit, refused as soon as it is exceeded), checked without decoding,
// decoded, re-encoded upright without metadata, stored with its preview and
// thumbnail, and only then recorded, with the upload event in the same
// transaction. A crash between the blob writes and the commit leaves blobs
// without a record, which Sweep removes.
func (s *Service) Add(ctx context.Context, n NewImage, body io.Reader) (Image, error) {
	if err := checkUserID(n.UserID); err != nil {
		return Image{}, err
	}
	limit := int64(MaxUploadBytes)
	if n.Kind == KindExport {
		limit = MaxExportBytes
	}
	f, size, sum, err := s.spool(body, limit, n.Kind == KindExport)
	if err != nil {
		return Image{}, err
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	if size == 0 {
		return Image{}, apperr.Invalid(photo.ErrEmpty.Error(), apperr.Violation{Field: FieldContent, Description: photo.ErrEmpty.Error()})
	}

	img := Image{
		ID:       uuid.Must(uuid.NewV7()).String(),
		UserID:   n.UserID,
		Kind:     n.Kind,
		ParentID: n.ParentID,
		JobID:    n.JobID,
		FileName: cleanFileName(n.FileName),
	}
	var blobs []blob
	if n.Kind == KindExport {
		blobs, err = s.prepareExport(f, size, sum, &img)
	} else {
		var cleanup func()
		blobs, cleanup, err = s.prepareImage(ctx, f, size, n, &img)
		if cleanup != nil {
			defer cleanup()
		}
	}
	if err != nil {
		return Image{}, err
	}
	if err := s.putBlobs(ctx, img, blobs); err != nil {
		return Image{}, err
	}
	img.CreateTime = s.cfg.Now().UTC().Truncate(time.Microsecond)
	var evs []events.Event
	if img.Kind == KindUpload {
		evs = append(evs, events.NewEvent(events.SubjectImageUploaded, &eventsv1.ImageUploaded{
			ImageId:     img.ID,
			UserId:      img.UserID,
			ContentType: img.ContentType,
			Width:       int32(img.Width),
			Height:      int32(img.Height),
			CreateTime:  timestamppb.New(img.CreateTime),
		}))
	}
	if err := s.repo.Insert(ctx, img, evs...); err != nil {
		s.deleteBlobs(context.WithoutCancel(ctx), img.UserID, img.ID)
		return Image{}, fmt.Errorf("record image: %w", err)
	}
	return img, nil
}

// blob is one file of an image about to be stored.
type blob struct {
	variant Variant
	body    io.ReadSeeker
}

// spool copies body to a temporary file, hashing it if asked (exports are
// stored as they come; images are hashed after re-encoding), and fails with
// a ResourceExhausted error as soon as more than limit bytes arrive, before
// writing them. A body that is an io.WriterTo (the API's chunk stream)
// writes its chunks straight to the file, without an intermediate copy.
func (s *Service) spool(body io.Reader, limit int64, hash bool) (*os.File, int64, string, error) {
	f, err := os.CreateTemp(s.cfg.TempDir, "upload-*")
	if err != nil {
		return nil, 0, "", fmt.Errorf("spool upload: %w", err)
	}
	h := sha256.New()
	w := &cappedWriter{w: f, limit: limit}
	if hash {
		w.w = io.MultiWriter(f, h)
	}
	n, err := io.CopyBuffer(w, body, make([]byte, 64<<10))
	if err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, 0, "", err
	}
	return f, n, hex.EncodeToString(h.Sum(nil)), nil
}

// cappedWriter refuses the write that would take it past its limit, so an
// oversized upload fails while it is still arriving.
type cappedWriter struct {
	w            io.Writer
	limit, total int64
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.limit-c.total {
		return 0, apperr.TooMany(fmt.Sprintf("the file is larger than %d MB", c.limit>>20), 0)
	}
	n, err := c.w.Write(p)
	c.total += int64(n)
	return n, err
}

// prepareExport checks that an export is a ZIP archive; it is stored as
// it came, without renditions.
func (s *Service) prepareExport(f *os.File, size int64, sum string, img *Image) ([]blob, error) {
	head := make([]byte, 4)
	if _, err := f.ReadAt(head, 0); err != nil || (string(head) != "PK\x03\x04" && string(head) != "PK\x05\x06") {
		return nil, apperr.Invalid("an export must be a ZIP archive", apperr.Violation{Field: FieldContentType, Description: "not a ZIP archive"})
	}
	img.ContentType, img.Size, img.SHA256 = "application/zip", size, sum
	if img.FileName == "" {
		img.FileName = "photoshoot-export.zip"
	}
	return []blob{{variant: VariantOriginal, body: io.NewSectionReader(f, 0, size)}}, nil
}

// prepareImage checks, decodes and re-encodes an image and makes its
// renditions. The re-encoded original is written to a second temporary
// file, hashed on the way, rather than held in memory; it is removed with
// the spooled upload once stored. The renditions are small (≤ 1024 px).
func (s *Service) prepareImage(ctx context.Context, f *os.File, size int64, n NewImage, img *Image) ([]blob, func(), error) {
	info, err := photo.Inspect(f, size)
	if err != nil {
		return nil, nil, contentError(err)
	}
	var opt photo.Options
	if n.Kind == KindGenerated {
		opt.DigitalSourceType = photo.DigitalSourceTrainedAlgorithmic
		if n.Composite {
			opt.DigitalSourceType = photo.DigitalSourceCompositeTrainedAlgorithmic
		}
	}
	out, err := os.CreateTemp(s.cfg.TempDir, "original-*")
	if err != nil {
		return nil, nil, fmt.Errorf("create original: %w", err)
	}
	cleanup := func() {
		_ = out.Close()
		_ = os.Remove(out.Name())
	}
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(out, h)}
	bw := bufio.NewWriterSize(cw, 64<<10)

	release, err := s.acquireDecode(ctx, info.Memory)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	res, err := photo.Process(io.NewSectionReader(f, 0, size), info, opt, bw)
	release()
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		cleanup()
		return nil, nil, contentError(err)
	}
	img.Width, img.Height = res.Info.Width, res.Info.Height
	img.ContentType = res.Info.Format.ContentType()
	img.Size = cw.n
	img.SHA256 = hex.EncodeToString(h.Sum(nil))
	img.RenditionType = res.Preview.Format.ContentType()
	img.DigitalSourceType = opt.DigitalSourceType
	return []blob{
		{variant: VariantOriginal, body: io.NewSectionReader(out, 0, cw.n)},
		{variant: VariantPreview, body: bytes.NewReader(res.Preview.Data)},
		{variant: VariantThumbnail, body: bytes.NewReader(res.Thumbnail.Data)},
	}, cleanup, nil
}

// acquireDecode waits until the decode budget admits a decode estimated
// to hold need bytes, and returns the function that gives them back. A
// decode larger than the whole budget waits for all of it.
func (s *Service) acquireDecode(ctx context.Context, need int64) (func(), error) {
	need = min(max(need, 1), s.cfg.DecodeMemory)
	if err := s.decode.Acquire(ctx, need); err != nil {
		return nil, err
	}
	return func() { s.decode.Release(need) }, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// contentError turns what photo found wrong with a file into an error the
// caller can act on; anything else stays internal.
func contentError(err error) error {
	var (
		unsupported *photo.UnsupportedError
		corrupt     *photo.CorruptError
		tooLarge    *photo.TooLargeError
	)
	switch {
	case errors.As(err, &unsupported):
		return apperr.Invalid(unsupported.Error(), apperr.Violation{Field: FieldContentType, Description: "accepted: " + photo.Accepted})
	case errors.As(err, &corrupt), errors.As(err, &tooLarge), errors.Is(err, photo.ErrEmpty):
		return apperr.Invalid(err.Error(), apperr.Violation{Field: FieldContent, Description: err.Error()})
	}
	return err
}

func (s *Service) putBlobs(ctx context.Context, img Image, blobs []blob) error {
	for _, b := range blobs {
		if err := s.blobs.Put(ctx, blobKey(img.UserID, img.ID, b.variant.String()), b.body); err != nil {
			s.deleteBlobs(context.WithoutCancel(ctx), img.UserID, img.ID)
			return fmt.Errorf("store image %s: %w", img.ID, err)
		}
	}
	return nil
}

// Blob keys: users/<user>/<image>/<name>, name being the variant, or
// variant.format for a cached conversion. Everything of a user shares a
// prefix (purge), and so does everything of an image (delete, sweep).
const userPrefix = "users/"

func blobKey(userID, imageID, name string) string {
	return userPrefix + userID + "/" + imageID + "/" + name
}

func imagePrefix(userID, imageID string) string {
	return userPrefix + userID + "/" + imageID + "/"
}

// deleteBlobs removes every blob of an image, logging failures: the sweeper
// removes whatever is left.
func (s *Service) deleteBlobs(ctx context.Context, userID, imageID string) {
	if err := s.deletePrefix(ctx, imagePrefix(userID, imageID)); err != nil {
		s.logger.WarnContext(ctx, "delete image blobs; the sweeper will retry", "image_id", imageID, "error", err)
	}
}

func (s *Service) deletePrefix(ctx context.Context, prefix string) error {
	var keys []string
	for info, err := range s.blobs.List(ctx, prefix) {
		if err != nil {
			return err
		}
		keys = append(keys, info.Key)
	}
	var errs []error
	for _, k := range keys {
		if err := s.blobs.Delete(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Get reads the caller's image.
func (s *Service) Get(ctx context.Context, userID, id string) (Image, error) {
	if err := checkID(id); err != nil {
		return Image{}, err
	}
	return s.repo.Get(ctx, userID, id)
}

// List pages through the caller's images.
func (s *Service) List(ctx context.Context, userID string, kind Kind, after *Cursor, limit int) ([]Image, error) {
	return s.repo.List(ctx, userID, kind, after, limit)
}

// Export lists every image of a user, for the data export.
func (s *Service) Export(ctx context.Context, userID string) ([]Image, error) {
	return s.repo.ListAll(ctx, userID)
}

// Delete deletes the caller's image and the masks analyses made of it: the
// records and their deletion events in one transaction, then the blobs.
// Images generated from an upload stay; their number is returned.
func (s *Service) Delete(ctx context.Context, userID, id string) (int, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	deleted, kept, err := s.repo.Delete(ctx, userID, id, func(deleted []Image, _ int) []events.Event {
		evs := make([]events.Event, len(deleted))
		for i, img := range deleted {
			evs[i] = events.NewEvent(events.SubjectImageDeleted, &eventsv1.ImageDeleted{ImageId: img.ID, UserId: img.UserID})
		}
		return evs
	})
	if err != nil {
		return 0, err
	}
	for _, img := range deleted {
		s.deleteBlobs(context.WithoutCancel(ctx), img.UserID, img.ID)
	}
	return kept, nil
}

// DiscardJobImages deletes the generated images of a user's job that are
// not in keep: the outputs of attempts that were never committed (refused,
// retried, or the job ended). Each goes the way Delete takes it (record and
// deletion event in one transaction, then the blobs), so it is idempotent:
// a repeated call finds nothing left and returns 0.
func (s *Service) DiscardJobImages(ctx context.Context, userID, jobID string, keep []string) (int, error) {
	if err := checkUserID(userID); err != nil {
		return 0, err
	}
	if jobID == "" {
		return 0, apperr.Invalid("job id required", apperr.Violation{Field: "job_id", Description: "required"})
	}
	for _, id := range keep {
		// An id that cannot name an image would silently keep nothing.
		if _, err := uuid.Parse(id); err != nil {
			return 0, apperr.Invalid("invalid image id to keep", apperr.Violation{Field: "keep_image_ids", Description: fmt.Sprintf("%q is not an image id", id)})
		}
	}
	imgs, err := s.repo.DeleteJobImages(ctx, userID, jobID, keep, func(img Image) []events.Event {
		return []events.Event{events.NewEvent(events.SubjectImageDeleted, &eventsv1.ImageDeleted{ImageId: img.ID, UserId: img.UserID})}
	})
	if err != nil {
		return 0, fmt.Errorf("discard images of job %s: %w", jobID, err)
	}
	for _, img := range imgs {
		s.deleteBlobs(context.WithoutCancel(ctx), img.UserID, img.ID)
	}
	return len(imgs), nil
}

// PurgeBlobs deletes every blob of a user. It is idempotent, so the
// account-deletion consumer can run it before committing the rows' deletion
// and retry it as often as needed.
func (s *Service) PurgeBlobs(ctx context.Context, userID string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := s.deletePrefix(ctx, userPrefix+userID+"/"); err != nil {
		return fmt.Errorf("purge blobs of user %s: %w", userID, err)
	}
	return nil
}

// SignedURL is a URL of the caller's image that works without a session
// until it expires, at most MaxURLTTL from now.
func (s *Service) SignedURL(ctx context.Context, userID, id string, v Variant, ttl time.Duration) (string, time.Time, error) {
	img, err := s.Get(ctx, userID, id)
	if err != nil {
		return "", time.Time{}, err
	}
	if img.RenditionType == "" && v != VariantOriginal {
		return "", time.Time{}, apperr.NotFound("image %s has no %s", id, v)
	}
	if ttl <= 0 || ttl > MaxURLTTL {
		ttl = MaxURLTTL
	}
	exp := s.cfg.Now().Add(ttl).Truncate(time.Second)
	return s.signer.URL(s.cfg.PublicURL, id, v, exp), exp, nil
}

// URLs fills the short-lived signed URLs of a record for a response.
func (s *Service) URLs(img Image) (content, thumbnail, preview string) {
	exp := s.cfg.Now().Add(MaxURLTTL).Truncate(time.Second)
	content = s.signer.URL(s.cfg.PublicURL, img.ID, VariantOriginal, exp)
	if img.RenditionType != "" {
		thumbnail = s.signer.URL(s.cfg.PublicURL, img.ID, VariantThumbnail, exp)
		preview = s.signer.URL(s.cfg.PublicURL, img.ID, VariantPreview, exp)
	}
	return content, thumbnail, preview
}

// checkID refuses ids that are not UUIDs before they reach a query or a key.
func checkID(id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return apperr.NotFound("image %q not found", id)
	}
	return nil
}

// checkUserID refuses user ids that cannot be a blob key segment. They are
// opaque strings from account (UUIDs in practice).
func checkUserID(id string) error {
	if id == "" || strings.Contains(id, "/") || blobstore.ValidKey(id) != nil {
		return apperr.Invalid("invalid user id", apperr.Violation{Field: "user_id", Description: "must be a plain identifier"})
	}
	return nil
}

// cleanFileName keeps a user's file name for downloads, without paths,
// control characters or quotes, at most 200 bytes.
func cleanFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F || r == '"' || r == ';' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > 200 {
		_, size := lastRune(name)
		name = name[:len(name)-size]
	}
	return name
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}
