// Package gallery is the media service's domain: a user's images, how they
// are taken in (checked, cleaned, stored with their renditions), read back
// (by their owner or through a signed URL, in another format if asked),
// deleted, exported, purged with their owner, and how blobs left behind by a
// crash are swept up.
//
// It holds the rules and the order of the steps; photo does the pixel work,
// a blobstore.Store keeps the bytes and a Repository the records.
package gallery

import (
	"context"
	"time"

	"github.com/connectengine/photoshoot/pkg/events"
)

// Kind says where an image came from.
type Kind int

// The kinds; the numbers are those stored in the database.
const (
	KindUnspecified Kind = iota
	KindUpload
	KindGenerated
	KindExport
	KindMask
)

func (k Kind) String() string {
	switch k {
	case KindUpload:
		return "upload"
	case KindGenerated:
		return "generated"
	case KindExport:
		return "export"
	case KindMask:
		return "mask"
	}
	return "unspecified"
}

// Variant is a rendition of an image.
type Variant int

// The renditions every image (but an export) has.
const (
	VariantOriginal Variant = iota + 1
	VariantThumbnail
	VariantPreview
)

func (v Variant) String() string {
	switch v {
	case VariantThumbnail:
		return "thumbnail"
	case VariantPreview:
		return "preview"
	}
	return "original"
}

// ParseVariant reads a variant's String form; "" is the original.
func ParseVariant(s string) (Variant, bool) {
	switch s {
	case "", "original":
		return VariantOriginal, true
	case "thumbnail":
		return VariantThumbnail, true
	case "preview":
		return VariantPreview, true
	}
	return 0, false
}

// Image is an image's record. Records are immutable once stored, so it is
// a plain value: the Service creates them and the Repository rehydrates them.
type Image struct {
	ID     string
	UserID string
	Kind   Kind
	// ParentID is the upload a generated image or mask was made from.
	ParentID string
	// JobID is the generation job that made it.
	JobID         string
	Width, Height int
	// ContentType and Size describe the stored original; SHA256 is its hex
	// digest.
	ContentType string
	Size        int64
	SHA256      string
	// RenditionType is the MIME type of the thumbnail and preview; empty
	// when the image has none (exports).
	RenditionType string
	FileName      string
	// DigitalSourceType is the IPTC code written into generated images.
	DigitalSourceType string
	CreateTime        time.Time
}

// Cursor is a keyset position in a newest-first list.
type Cursor struct {
	CreateTime time.Time
	ID         string
}

// Repository keeps the records. Every method that takes a user ID filters
// on it: another user's image reads as apperr NotFound.
type Repository interface {
	// Insert stores a new record and its events in one transaction.
	Insert(ctx context.Context, img Image, evs ...events.Event) error
	Get(ctx context.Context, userID, id string) (Image, error)
	// GetByID reads a record whatever its owner; only the signed-URL path,
	// whose signature is the capability, uses it.
	GetByID(ctx context.Context, id string) (Image, error)
	// List returns up to limit records, newest first, after the cursor
	// (nil: from the newest), of one kind unless KindUnspecified.
	List(ctx context.Context, userID string, kind Kind, after *Cursor, limit int) ([]Image, error)
	// ListAll returns every record of the user, newest first.
	ListAll(ctx context.Context, userID string) ([]Image, error)
	// Delete removes a record and the masks made from it (deleted: the
	// record first), counting the images generated from it that stay, and
	// writes the events fn returns in the same transaction.
	Delete(ctx context.Context, userID, id string, fn func(deleted []Image, keptGenerated int) []events.Event) ([]Image, int, error)
	// DeleteJobImages removes the user's generated images of a job whose
	// ids are not in keep, and writes the events fn returns for each in the
	// same transaction. It returns the records it removed.
	DeleteJobImages(ctx context.Context, userID, jobID string, keep []string, fn func(img Image) []events.Event) ([]Image, error)
	// Existing reports which of ids have a record.
	Existing(ctx context.Context, ids []string) (map[string]bool, error)
}
