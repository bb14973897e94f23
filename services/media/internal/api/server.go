// Package api translates the media service's gRPC calls into its domain,
// the gallery: streams become readers, protos become records and back.
// Errors are apperr kinds from the domain; the rpc interceptor maps them.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/media/internal/gallery"
	"github.com/connectengine/photoshoot/services/media/internal/photo"
)

// MaxChunk is the largest chunk accepted in an upload or sent in a read.
const MaxChunk = 64 << 10

// Server implements mediav1.MediaServiceServer.
type Server struct {
	mediav1.UnimplementedMediaServiceServer
	svc    *gallery.Service
	tokens pageTokens
}

// NewServer returns the API over svc; secret (SERVICE_AUTH_SECRET) keys
// the page tokens.
func NewServer(svc *gallery.Service, secret []byte) *Server {
	return &Server{svc: svc, tokens: newPageTokens(secret)}
}

func caller(ctx context.Context) (string, error) {
	c, ok := authn.CallerFrom(ctx)
	if !ok || c.UserID == "" {
		return "", apperr.Unauthenticated("access token required")
	}
	return c.UserID, nil
}

// UploadImage takes a user's upload.
func (s *Server) UploadImage(stream mediav1.MediaService_UploadImageServer) error {
	ctx := stream.Context()
	userID, err := caller(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("receive upload metadata: %w", err)
	}
	md := first.GetMetadata()
	if md == nil {
		return apperr.Invalid("the first message must carry the metadata", apperr.Violation{Field: "metadata", Description: "required first"})
	}
	body := &chunkReader{recv: func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if m.GetMetadata() != nil {
			return nil, apperr.Invalid("metadata may only come first", apperr.Violation{Field: "metadata", Description: "sent twice"})
		}
		return m.GetChunk(), nil
	}}
	img, err := s.svc.Add(ctx, gallery.NewImage{UserID: userID, Kind: gallery.KindUpload, FileName: md.GetFileName()}, body)
	if err != nil {
		return err
	}
	return stream.SendAndClose(&mediav1.UploadImageResponse{Image: s.imageToProto(img)})
}

// StoreImage stores an image a service made for a user.
func (s *Server) StoreImage(stream mediav1.MediaService_StoreImageServer) error {
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("receive store metadata: %w", err)
	}
	md := first.GetMetadata()
	if md == nil {
		return apperr.Invalid("the first message must carry the metadata", apperr.Violation{Field: "metadata", Description: "required first"})
	}
	kind, ok := kindFromProto(md.GetKind())
	if !ok || kind == gallery.KindUnspecified || kind == gallery.KindUpload {
		return apperr.Invalid("kind must be generated, export or mask", apperr.Violation{Field: "metadata.kind", Description: "generated, export or mask"})
	}
	if p := md.GetParentImageId(); p != "" {
		if _, err := uuid.Parse(p); err != nil {
			return apperr.Invalid("invalid parent image id", apperr.Violation{Field: "metadata.parent_image_id", Description: "not an image id"})
		}
	}
	body := &chunkReader{recv: func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if m.GetMetadata() != nil {
			return nil, apperr.Invalid("metadata may only come first", apperr.Violation{Field: "metadata", Description: "sent twice"})
		}
		return m.GetChunk(), nil
	}}
	img, err := s.svc.Add(stream.Context(), gallery.NewImage{
		UserID:    md.GetUserId(),
		Kind:      kind,
		ParentID:  md.GetParentImageId(),
		JobID:     md.GetJobId(),
		FileName:  md.GetFileName(),
		Composite: md.GetComposite(),
	}, body)
	if err != nil {
		return err
	}
	return stream.SendAndClose(&mediav1.StoreImageResponse{Image: s.imageToProto(img)})
}

// chunkReader reads an upload stream's chunks as one byte stream, refusing
// chunks over MaxChunk.
type chunkReader struct {
	recv func() ([]byte, error)
	buf  []byte
	done bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.done {
			return 0, io.EOF
		}
		chunk, err := c.recv()
		if errors.Is(err, io.EOF) {
			c.done = true
			continue
		}
		if err != nil {
			return 0, err
		}
		if len(chunk) > MaxChunk {
			return 0, apperr.Invalid(fmt.Sprintf("chunks must be at most %d bytes", MaxChunk),
				apperr.Violation{Field: "chunk", Description: fmt.Sprintf("%d bytes", len(chunk))})
		}
		c.buf = chunk
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// ListImages pages through the caller's images.
func (s *Server) ListImages(ctx context.Context, req *mediav1.ListImagesRequest) (*mediav1.ListImagesResponse, error) {
	userID, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	kind, ok := kindFromProto(req.GetKind())
	if !ok {
		return nil, apperr.Invalid("unknown kind", apperr.Violation{Field: "kind", Description: "unknown value"})
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, apperr.Invalid("page size must not be negative", apperr.Violation{Field: "page_size", Description: "negative"})
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	after, err := s.tokens.decode(req.GetPageToken(), userID, kind)
	if err != nil {
		return nil, err
	}
	imgs, err := s.svc.List(ctx, userID, kind, after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &mediav1.ListImagesResponse{}
	if len(imgs) > size {
		imgs = imgs[:size]
		last := imgs[size-1]
		resp.NextPageToken = s.tokens.encode(gallery.Cursor{CreateTime: last.CreateTime, ID: last.ID}, userID, kind)
	}
	for _, img := range imgs {
		resp.Images = append(resp.Images, s.imageToProto(img))
	}
	return resp, nil
}

// GetImage reads one of the caller's images.
func (s *Server) GetImage(ctx context.Context, req *mediav1.GetImageRequest) (*mediav1.GetImageResponse, error) {
	userID, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	img, err := s.svc.Get(ctx, userID, req.GetImageId())
	if err != nil {
		return nil, err
	}
	return &mediav1.GetImageResponse{Image: s.imageToProto(img)}, nil
}

// DeleteImage deletes one of the caller's images.
func (s *Server) DeleteImage(ctx context.Context, req *mediav1.DeleteImageRequest) (*mediav1.DeleteImageResponse, error) {
	userID, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	kept, err := s.svc.Delete(ctx, userID, req.GetImageId())
	if err != nil {
		return nil, err
	}
	return &mediav1.DeleteImageResponse{KeptGeneratedCount: int32(kept)}, nil
}

// ReadImage streams a rendition to its owner, or to anyone with a valid
// signed URL (the method needs no session).
func (s *Server) ReadImage(req *mediav1.ReadImageRequest, stream mediav1.MediaService_ReadImageServer) error {
	ctx := stream.Context()
	rr, err := readRequest(req.GetImageId(), req.GetVariant(), req.GetFormat(), req.GetOffset(), req.GetLength())
	if err != nil {
		return err
	}
	var r *gallery.Rendition
	if req.GetSignature() != "" || req.GetExpires() != 0 {
		r, err = s.svc.ReadSigned(ctx, rr, req.GetExpires(), req.GetSignature())
	} else {
		var userID string
		if userID, err = caller(ctx); err != nil {
			return err
		}
		r, err = s.svc.Read(ctx, userID, rr)
	}
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if err := stream.Send(&mediav1.ReadImageResponse{Part: &mediav1.ReadImageResponse_Header{Header: headerToProto(r)}}); err != nil {
		return err
	}
	return sendChunks(r.Body, func(b []byte) error {
		return stream.Send(&mediav1.ReadImageResponse{Part: &mediav1.ReadImageResponse_Chunk{Chunk: b}})
	})
}

// FetchImage streams a rendition of a user's image to a service.
func (s *Server) FetchImage(req *mediav1.FetchImageRequest, stream mediav1.MediaService_FetchImageServer) error {
	rr, err := readRequest(req.GetImageId(), req.GetVariant(), "", 0, 0)
	if err != nil {
		return err
	}
	r, err := s.svc.Fetch(stream.Context(), req.GetUserId(), rr)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if err := stream.Send(&mediav1.FetchImageResponse{Part: &mediav1.FetchImageResponse_Header{Header: headerToProto(r)}}); err != nil {
		return err
	}
	return sendChunks(r.Body, func(b []byte) error {
		return stream.Send(&mediav1.FetchImageResponse{Part: &mediav1.FetchImageResponse_Chunk{Chunk: b}})
	})
}

func readRequest(id string, v mediav1.Variant, format string, offset, length int64) (gallery.ReadRequest, error) {
	variant, ok := variantFromProto(v)
	if !ok {
		return gallery.ReadRequest{}, apperr.Invalid("unknown variant", apperr.Violation{Field: "variant", Description: "unknown value"})
	}
	rr := gallery.ReadRequest{ID: id, Variant: variant, Offset: offset, Length: length}
	if format != "" {
		f, ok := photo.ParseFormat(format)
		if !ok {
			return gallery.ReadRequest{}, apperr.Invalid("unknown format", apperr.Violation{Field: "format", Description: "jpeg, png or webp"})
		}
		rr.Format = f
	}
	return rr, nil
}

func sendChunks(r io.Reader, send func([]byte) error) error {
	buf := make([]byte, MaxChunk)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if err := send(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read blob: %w", err)
		}
	}
}

// SignImageUrl signs a URL of a user's image for a service.
func (s *Server) SignImageUrl(ctx context.Context, req *mediav1.SignImageUrlRequest) (*mediav1.SignImageUrlResponse, error) {
	variant, ok := variantFromProto(req.GetVariant())
	if !ok {
		return nil, apperr.Invalid("unknown variant", apperr.Violation{Field: "variant", Description: "unknown value"})
	}
	url, exp, err := s.svc.SignedURL(ctx, req.GetUserId(), req.GetImageId(), variant, time.Duration(req.GetTtlSeconds())*time.Second)
	if err != nil {
		return nil, err
	}
	return &mediav1.SignImageUrlResponse{Url: url, ExpireTime: timestampOf(exp)}, nil
}

// ExportUserData lists every record of a user.
func (s *Server) ExportUserData(ctx context.Context, req *mediav1.ExportUserDataRequest) (*mediav1.ExportUserDataResponse, error) {
	if req.GetUserId() == "" {
		return nil, apperr.Invalid("user id required", apperr.Violation{Field: "user_id", Description: "required"})
	}
	imgs, err := s.svc.Export(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	resp := &mediav1.ExportUserDataResponse{}
	for _, img := range imgs {
		resp.Images = append(resp.Images, s.imageToProto(img))
	}
	return resp, nil
}

// DiscardJobImages deletes a job's generated images that were never
// committed, for the generation worker.
func (s *Server) DiscardJobImages(ctx context.Context, req *mediav1.DiscardJobImagesRequest) (*mediav1.DiscardJobImagesResponse, error) {
	n, err := s.svc.DiscardJobImages(ctx, req.GetUserId(), req.GetJobId(), req.GetKeepImageIds())
	if err != nil {
		return nil, err
	}
	return &mediav1.DiscardJobImagesResponse{DeletedCount: int32(n)}, nil
}
