package gallery_test

import (
	"testing"
	"time"

	"github.com/connectengine/photoshoot/services/media/internal/gallery"
)

func TestSigner_valid(t *testing.T) {
	t.Parallel()
	s := gallery.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	other := gallery.NewSigner([]byte("another key of thirty-two bytes!"))
	now := time.Unix(1_700_000_000, 0)
	exp := now.Add(10 * time.Minute)
	sig := s.Sign("img-1", gallery.VariantOriginal, exp)
	for name, c := range map[string]struct {
		id      string
		v       gallery.Variant
		expires int64
		sig     string
		now     time.Time
		want    bool
	}{
		"good":              {"img-1", gallery.VariantOriginal, exp.Unix(), sig, now, true},
		"other_image":       {"img-2", gallery.VariantOriginal, exp.Unix(), sig, now, false},
		"other_variant":     {"img-1", gallery.VariantThumbnail, exp.Unix(), sig, now, false},
		"edited_expiry":     {"img-1", gallery.VariantOriginal, exp.Unix() + 1, sig, now, false},
		"expired":           {"img-1", gallery.VariantOriginal, exp.Unix(), sig, exp, false},
		"other_key":         {"img-1", gallery.VariantOriginal, exp.Unix(), other.Sign("img-1", gallery.VariantOriginal, exp), now, false},
		"not_base64":        {"img-1", gallery.VariantOriginal, exp.Unix(), "!!", now, false},
		"empty":             {"img-1", gallery.VariantOriginal, exp.Unix(), "", now, false},
		"beyond_max_ttl":    {"img-1", gallery.VariantOriginal, now.Add(time.Hour).Unix(), s.Sign("img-1", gallery.VariantOriginal, now.Add(time.Hour)), now, false},
		"within_clock_skew": {"img-1", gallery.VariantOriginal, now.Add(15*time.Minute + 30*time.Second).Unix(), s.Sign("img-1", gallery.VariantOriginal, now.Add(15*time.Minute+30*time.Second)), now, true},
	} {
		if got := s.Valid(c.id, c.v, c.expires, c.sig, c.now); got != c.want {
			t.Errorf("%s: Valid = %v, want %v", name, got, c.want)
		}
	}
}
