// Package media adapts pkg/mediaclient to what the analysis service needs
// of media: fetch an upload's original, store its mask.
package media

import (
	"context"
	"image"

	"github.com/connectengine/photoshoot/pkg/mediaclient"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// Client implements analysis.Media over gRPC.
type Client struct {
	c *mediaclient.Client
}

// New returns a client on a connection made with platform.Dial.
func New(c mediav1.MediaServiceClient) *Client { return &Client{c: mediaclient.New(c)} }

// Fetch downloads and decodes the original of the user's image.
func (m *Client) Fetch(ctx context.Context, userID, imageID string) (image.Image, error) {
	return m.c.Fetch(ctx, userID, imageID)
}

// StoreMask stores png as the image's MASK.
func (m *Client) StoreMask(ctx context.Context, userID, imageID string, png []byte) (string, error) {
	img, err := m.c.Store(ctx, &mediav1.StoreMetadata{
		UserId: userID, Kind: mediav1.ImageKind_IMAGE_KIND_MASK, ParentImageId: imageID, FileName: imageID + "-mask.png",
	}, png)
	if err != nil {
		return "", err
	}
	return img.GetId(), nil
}
