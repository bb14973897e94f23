package gallery

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/media/internal/blobstore"
	"github.com/connectengine/photoshoot/services/media/internal/photo"
)

// ReadRequest asks for the bytes of one rendition.
type ReadRequest struct {
	ID      string
	Variant Variant
	// Format converts to another type; photo.FormatUnknown keeps the
	// stored one.
	Format photo.Format
	// Offset and Length select a byte range; Length 0 means to the end.
	Offset, Length int64
}

// Rendition is an open rendition; the caller closes Body.
type Rendition struct {
	Image       Image
	ContentType string
	// Size is the whole rendition's size, whatever range Body holds.
	Size int64
	// ETag is a strong validator: renditions never change once written.
	ETag     string
	FileName string
	Body     io.ReadCloser
}

// Read opens a rendition of the caller's image.
func (s *Service) Read(ctx context.Context, userID string, req ReadRequest) (*Rendition, error) {
	img, err := s.Get(ctx, userID, req.ID)
	if err != nil {
		return nil, err
	}
	return s.open(ctx, img, req)
}

// ReadSigned opens a rendition through a signed URL: the signature, not a
// session, grants access. A bad or expired signature reads as not found,
// like an image that does not exist, so nothing is learned from probing.
func (s *Service) ReadSigned(ctx context.Context, req ReadRequest, expires int64, signature string) (*Rendition, error) {
	if err := checkID(req.ID); err != nil {
		return nil, err
	}
	if !s.signer.Valid(req.ID, req.Variant, expires, signature, s.cfg.Now()) {
		return nil, apperr.NotFound("image %q not found", req.ID)
	}
	img, err := s.repo.GetByID(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	return s.open(ctx, img, req)
}

// Fetch opens a rendition of a user's image for a service working on the
// user's behalf.
func (s *Service) Fetch(ctx context.Context, userID string, req ReadRequest) (*Rendition, error) {
	return s.Read(ctx, userID, req)
}

func (s *Service) open(ctx context.Context, img Image, req ReadRequest) (*Rendition, error) {
	if req.Offset < 0 || req.Length < 0 {
		return nil, apperr.Invalid("invalid byte range", apperr.Violation{Field: "offset", Description: "offset and length must not be negative"})
	}
	stored := img.ContentType
	if req.Variant != VariantOriginal {
		stored = img.RenditionType
	}
	if stored == "" {
		return nil, apperr.NotFound("image %s has no %s", img.ID, req.Variant)
	}
	from := photo.FormatOf(stored)
	name := req.Variant.String()
	contentType := stored
	if req.Format != photo.FormatUnknown && req.Format != from {
		if from == photo.FormatUnknown {
			return nil, apperr.Invalid("this file cannot be converted", apperr.Violation{Field: "format", Description: "only images convert"})
		}
		name += "." + req.Format.String()
		contentType = req.Format.ContentType()
		if err := s.ensureConverted(ctx, img, req.Variant, from, req.Format); err != nil {
			return nil, err
		}
	}
	body, info, err := s.blobs.Open(ctx, blobKey(img.UserID, img.ID, name), req.Offset, req.Length)
	if errors.Is(err, blobstore.ErrNotFound) {
		// A record without its blob: deleted concurrently, or lost.
		return nil, apperr.NotFound("image %s not found", img.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s of image %s: %w", name, img.ID, err)
	}
	short := img.SHA256
	if len(short) > 32 {
		short = short[:32]
	}
	return &Rendition{
		Image:       img,
		ContentType: contentType,
		Size:        info.Size,
		ETag:        `"` + short + "-" + strings.ReplaceAll(name, ".", "-") + `"`,
		FileName:    downloadName(img, req.Variant, photo.FormatOf(contentType)),
		Body:        body,
	}, nil
}

// ensureConverted makes the cached conversion of a rendition if it is not
// there yet. Two requests racing both convert; Put's atomic replace makes
// that harmless.
func (s *Service) ensureConverted(ctx context.Context, img Image, v Variant, from, to photo.Format) error {
	key := blobKey(img.UserID, img.ID, v.String()+"."+to.String())
	if _, err := s.blobs.Stat(ctx, key); err == nil {
		return nil
	} else if !errors.Is(err, blobstore.ErrNotFound) {
		return fmt.Errorf("stat conversion %s: %w", key, err)
	}
	src, _, err := s.blobs.Open(ctx, blobKey(img.UserID, img.ID, v.String()), 0, 0)
	if errors.Is(err, blobstore.ErrNotFound) {
		return apperr.NotFound("image %s not found", img.ID)
	}
	if err != nil {
		return fmt.Errorf("open %s of image %s: %w", v, img.ID, err)
	}
	defer src.Close()
	// Conversions are written to a temporary file, not held in memory.
	out, err := os.CreateTemp(s.cfg.TempDir, "convert-*")
	if err != nil {
		return fmt.Errorf("create conversion: %w", err)
	}
	defer func() {
		_ = out.Close()
		_ = os.Remove(out.Name())
	}()
	w, h := img.Width, img.Height
	if v != VariantOriginal {
		w, h = photo.PreviewSize, photo.PreviewSize
	}
	release, err := s.acquireDecode(ctx, photo.ConvertMemory(from, to, w, h))
	if err != nil {
		return err
	}
	// Provenance travels with the generated image in every format we can
	// write it into.
	var dst string
	if v == VariantOriginal {
		dst = img.DigitalSourceType
	}
	cw := &countingWriter{w: out}
	bw := bufio.NewWriterSize(cw, 64<<10)
	err = photo.Convert(bw, src, from, to, dst)
	release()
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("convert image %s to %s: %w", img.ID, to, err)
	}
	if err := s.blobs.Put(ctx, key, io.NewSectionReader(out, 0, cw.n)); err != nil {
		return fmt.Errorf("cache conversion: %w", err)
	}
	return nil
}

// downloadName is the file name offered for a rendition: the user's name
// with the right extension, or one made from the id.
func downloadName(img Image, v Variant, f photo.Format) string {
	base := strings.TrimSuffix(img.FileName, path.Ext(img.FileName))
	if base == "" {
		base = "image-" + img.ID[:min(8, len(img.ID))]
	}
	if v != VariantOriginal {
		base += "-" + v.String()
	}
	ext := f.Ext()
	if ext == "" {
		ext = path.Ext(img.FileName)
	}
	return base + ext
}
