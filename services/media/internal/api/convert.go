package api

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/media/internal/gallery"
)

func kindToProto(k gallery.Kind) mediav1.ImageKind {
	switch k {
	case gallery.KindUpload:
		return mediav1.ImageKind_IMAGE_KIND_UPLOAD
	case gallery.KindGenerated:
		return mediav1.ImageKind_IMAGE_KIND_GENERATED
	case gallery.KindExport:
		return mediav1.ImageKind_IMAGE_KIND_EXPORT
	case gallery.KindMask:
		return mediav1.ImageKind_IMAGE_KIND_MASK
	}
	return mediav1.ImageKind_IMAGE_KIND_UNSPECIFIED
}

func kindFromProto(k mediav1.ImageKind) (gallery.Kind, bool) {
	switch k {
	case mediav1.ImageKind_IMAGE_KIND_UNSPECIFIED:
		return gallery.KindUnspecified, true
	case mediav1.ImageKind_IMAGE_KIND_UPLOAD:
		return gallery.KindUpload, true
	case mediav1.ImageKind_IMAGE_KIND_GENERATED:
		return gallery.KindGenerated, true
	case mediav1.ImageKind_IMAGE_KIND_EXPORT:
		return gallery.KindExport, true
	case mediav1.ImageKind_IMAGE_KIND_MASK:
		return gallery.KindMask, true
	}
	return 0, false
}

func variantFromProto(v mediav1.Variant) (gallery.Variant, bool) {
	switch v {
	case mediav1.Variant_VARIANT_UNSPECIFIED, mediav1.Variant_VARIANT_ORIGINAL:
		return gallery.VariantOriginal, true
	case mediav1.Variant_VARIANT_THUMBNAIL:
		return gallery.VariantThumbnail, true
	case mediav1.Variant_VARIANT_PREVIEW:
		return gallery.VariantPreview, true
	}
	return 0, false
}

// imageToProto converts a record, with fresh signed URLs of its renditions.
func (s *Server) imageToProto(img gallery.Image) *mediav1.Image {
	content, thumb, preview := s.svc.URLs(img)
	return &mediav1.Image{
		Id:                img.ID,
		Kind:              kindToProto(img.Kind),
		ParentImageId:     img.ParentID,
		JobId:             img.JobID,
		Width:             int32(img.Width),
		Height:            int32(img.Height),
		ContentType:       img.ContentType,
		SizeBytes:         img.Size,
		Sha256:            img.SHA256,
		CreateTime:        timestamppb.New(img.CreateTime),
		FileName:          img.FileName,
		ContentUrl:        content,
		ThumbnailUrl:      thumb,
		PreviewUrl:        preview,
		DigitalSourceType: img.DigitalSourceType,
	}
}

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func headerToProto(r *gallery.Rendition) *mediav1.ReadImageHeader {
	return &mediav1.ReadImageHeader{
		ContentType: r.ContentType,
		SizeBytes:   r.Size,
		Etag:        r.ETag,
		FileName:    r.FileName,
		CreateTime:  timestamppb.New(r.Image.CreateTime),
	}
}
