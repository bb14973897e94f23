// Package mediaclient is the other services' client of the media service's
// internal RPCs: fetch a user's image, store a derived one (an analysis
// mask, a generated shot), sign a short-lived URL, and discard the images
// of a generation job. Downstream statuses become apperr kinds through
// apperr.FromStatus, so a missing image is NotFound to the caller too.
package mediaclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // media stores JPEG and PNG
	_ "image/png"
	"io"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// MaxImageBytes bounds what Fetch reads: media's own upload limit is lower.
const MaxImageBytes = 100 << 20

// chunkSize is StoreImage's chunk limit.
const chunkSize = 64 << 10

// Client calls media over a connection made with platform.Dial, which
// carries the service credential the internal RPCs demand.
type Client struct {
	c mediav1.MediaServiceClient
}

// New returns a client over c.
func New(c mediav1.MediaServiceClient) *Client { return &Client{c: c} }

// FetchBytes downloads a rendition of the user's image (the original for
// VARIANT_UNSPECIFIED) and returns its bytes and content type.
func (m *Client) FetchBytes(ctx context.Context, userID, imageID string, v mediav1.Variant) ([]byte, string, error) {
	stream, err := m.c.FetchImage(ctx, &mediav1.FetchImageRequest{UserId: userID, ImageId: imageID, Variant: v})
	if err != nil {
		return nil, "", apperr.FromStatus(err)
	}
	var buf bytes.Buffer
	var contentType string
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", apperr.FromStatus(err)
		}
		if h := msg.GetHeader(); h != nil {
			contentType = h.GetContentType()
			if n := h.GetSizeBytes(); n > 0 && n <= MaxImageBytes {
				buf.Grow(int(n))
			}
		}
		if c := msg.GetChunk(); c != nil {
			if buf.Len()+len(c) > MaxImageBytes {
				return nil, "", apperr.Invalid(fmt.Sprintf("image %s exceeds %d bytes", imageID, MaxImageBytes))
			}
			buf.Write(c)
		}
	}
	return buf.Bytes(), contentType, nil
}

// Fetch downloads and decodes the original of the user's image.
func (m *Client) Fetch(ctx context.Context, userID, imageID string) (image.Image, error) {
	data, _, err := m.FetchBytes(ctx, userID, imageID, mediav1.Variant_VARIANT_UNSPECIFIED)
	if err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, apperr.Precondition("IMAGE_UNREADABLE", fmt.Sprintf("image %s cannot be decoded: %v", imageID, err))
	}
	return img, nil
}

// Store uploads data as a new image described by meta and returns its
// record.
func (m *Client) Store(ctx context.Context, meta *mediav1.StoreMetadata, data []byte) (*mediav1.Image, error) {
	stream, err := m.c.StoreImage(ctx)
	if err != nil {
		return nil, apperr.FromStatus(err)
	}
	if err := stream.Send(&mediav1.StoreImageRequest{Part: &mediav1.StoreImageRequest_Metadata{Metadata: meta}}); err != nil {
		return nil, closeErr(stream, err)
	}
	for off := 0; off < len(data); off += chunkSize {
		c := data[off:min(off+chunkSize, len(data))]
		if err := stream.Send(&mediav1.StoreImageRequest{Part: &mediav1.StoreImageRequest_Chunk{Chunk: c}}); err != nil {
			return nil, closeErr(stream, err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, apperr.FromStatus(err)
	}
	return resp.GetImage(), nil
}

// Sign returns a URL that serves a rendition of the user's image without a
// session until it expires (media caps ttl at 15 minutes).
func (m *Client) Sign(ctx context.Context, userID, imageID string, v mediav1.Variant, ttl time.Duration) (string, error) {
	resp, err := m.c.SignImageUrl(ctx, &mediav1.SignImageUrlRequest{
		UserId: userID, ImageId: imageID, Variant: v, TtlSeconds: int32(ttl / time.Second),
	})
	if err != nil {
		return "", apperr.FromStatus(err)
	}
	return resp.GetUrl(), nil
}

// closeErr gets the server's status after a failed Send (Send reports
// only io.EOF when the server has already answered).
func closeErr(stream mediav1.MediaService_StoreImageClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return apperr.FromStatus(rerr)
		}
	}
	return apperr.FromStatus(err)
}

// Discard deletes the generated images of the user's job except keep (the
// job's committed outputs) and returns how many it deleted. It is
// idempotent.
func (m *Client) Discard(ctx context.Context, userID, jobID string, keep []string) (int, error) {
	resp, err := m.c.DiscardJobImages(ctx, &mediav1.DiscardJobImagesRequest{UserId: userID, JobId: jobID, KeepImageIds: keep})
	if err != nil {
		return 0, apperr.FromStatus(err)
	}
	return int(resp.GetDeletedCount()), nil
}
