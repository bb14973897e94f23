// Package media is analysis's client of the media service's internal RPCs:
// it fetches an upload's original and stores masks. Downstream statuses
// become apperr kinds through apperr.FromStatus, so a missing image is
// NotFound here too.
package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // media stores JPEG and PNG originals
	_ "image/png"
	"io"

	"github.com/connectengine/photoshoot/pkg/apperr"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// MaxImageBytes bounds what Fetch reads: media's own upload limit is lower.
const MaxImageBytes = 100 << 20

// chunkSize is StoreImage's chunk limit.
const chunkSize = 64 << 10

// Client implements analysis.Media over gRPC.
type Client struct {
	c mediav1.MediaServiceClient
}

// New returns a client on a connection made with platform.Dial.
func New(c mediav1.MediaServiceClient) *Client { return &Client{c: c} }

// Fetch downloads and decodes the original of the user's image.
func (m *Client) Fetch(ctx context.Context, userID, imageID string) (image.Image, error) {
	stream, err := m.c.FetchImage(ctx, &mediav1.FetchImageRequest{UserId: userID, ImageId: imageID})
	if err != nil {
		return nil, apperr.FromStatus(err)
	}
	var buf bytes.Buffer
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, apperr.FromStatus(err)
		}
		if c := msg.GetChunk(); c != nil {
			if buf.Len()+len(c) > MaxImageBytes {
				return nil, apperr.Invalid(fmt.Sprintf("image %s exceeds %d bytes", imageID, MaxImageBytes))
			}
			buf.Write(c)
		}
	}
	img, _, err := image.Decode(&buf)
	if err != nil {
		return nil, apperr.Precondition("IMAGE_UNREADABLE", fmt.Sprintf("image %s cannot be decoded: %v", imageID, err))
	}
	return img, nil
}

// StoreMask stores png as the image's MASK.
func (m *Client) StoreMask(ctx context.Context, userID, imageID string, png []byte) (string, error) {
	stream, err := m.c.StoreImage(ctx)
	if err != nil {
		return "", apperr.FromStatus(err)
	}
	meta := &mediav1.StoreMetadata{UserId: userID, Kind: mediav1.ImageKind_IMAGE_KIND_MASK, ParentImageId: imageID, FileName: imageID + "-mask.png"}
	if err := stream.Send(&mediav1.StoreImageRequest{Part: &mediav1.StoreImageRequest_Metadata{Metadata: meta}}); err != nil {
		return "", m.closeErr(stream, err)
	}
	for off := 0; off < len(png); off += chunkSize {
		c := png[off:min(off+chunkSize, len(png))]
		if err := stream.Send(&mediav1.StoreImageRequest{Part: &mediav1.StoreImageRequest_Chunk{Chunk: c}}); err != nil {
			return "", m.closeErr(stream, err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return "", apperr.FromStatus(err)
	}
	return resp.GetImage().GetId(), nil
}

// closeErr gets the server's status after a failed Send (Send reports
// only io.EOF when the server has already answered).
func (m *Client) closeErr(stream mediav1.MediaService_StoreImageClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return apperr.FromStatus(rerr)
		}
	}
	return apperr.FromStatus(err)
}
