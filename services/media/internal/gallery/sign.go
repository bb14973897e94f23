package gallery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"time"
)

// MaxURLTTL caps a signed URL's life: long enough for a page of <img> tags
// or a model fetching its input, short enough that a leaked link dies soon.
const MaxURLTTL = 15 * time.Minute

// clockSkew is how far in the future an expiry may lie beyond MaxURLTTL,
// for clocks that disagree between replicas.
const clockSkew = time.Minute

// Signer makes and checks signed URLs: an HMAC-SHA256 over the image id,
// the variant and the expiry, so none of the three can be changed.
type Signer struct {
	key []byte
}

// NewSigner returns a signer with key (MEDIA_SIGNING_KEY).
func NewSigner(key []byte) *Signer {
	return &Signer{key: append([]byte(nil), key...)}
}

func (s *Signer) mac(id string, v Variant, expires int64) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("photoshoot media url v1\x00"))
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(v.String()))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(expires, 10)))
	return m.Sum(nil)
}

// Sign returns the signature of a URL for id and v that works until expires.
func (s *Signer) Sign(id string, v Variant, expires time.Time) string {
	return base64.RawURLEncoding.EncodeToString(s.mac(id, v, expires.Unix()))
}

// Valid checks a signature at now: it must match, and the expiry must lie
// ahead but no further than MaxURLTTL.
func (s *Signer) Valid(id string, v Variant, expires int64, signature string, now time.Time) bool {
	got, err := base64.RawURLEncoding.DecodeString(signature)
	if err != nil || !hmac.Equal(got, s.mac(id, v, expires)) {
		return false
	}
	exp := time.Unix(expires, 0)
	return now.Before(exp) && exp.Sub(now) <= MaxURLTTL+clockSkew
}

// URL is the gateway URL (under publicURL) of a signed rendition.
func (s *Signer) URL(publicURL, id string, v Variant, expires time.Time) string {
	q := url.Values{}
	path := "/content"
	switch v {
	case VariantThumbnail:
		path = "/thumbnail"
	case VariantPreview:
		q.Set("variant", "preview")
	}
	q.Set("expires", strconv.FormatInt(expires.Unix(), 10))
	q.Set("signature", s.Sign(id, v, expires))
	return publicURL + "/v1/images/" + url.PathEscape(id) + path + "?" + q.Encode()
}
