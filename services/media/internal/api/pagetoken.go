package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/media/internal/gallery"
)

// Page sizes of ListImages.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// pageTokens makes and checks ListImages page tokens: the keyset cursor
// (create time and id of the last image of the page) as base64url JSON,
// then '.', then a truncated HMAC-SHA256 over the cursor, the user and the
// kind filter. A token is opaque to clients, cannot be forged or edited,
// and does not work for another user or another filter.
type pageTokens struct {
	key []byte
}

// newPageTokens derives the token key from the service secret, so tokens
// survive restarts and work across replicas.
func newPageTokens(secret []byte) pageTokens {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("photoshoot media page token v1"))
	return pageTokens{key: m.Sum(nil)}
}

type cursorJSON struct {
	T int64  `json:"t"`
	I string `json:"i"`
}

func (p pageTokens) mac(payload, userID string, kind gallery.Kind) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(payload))
	m.Write([]byte{0})
	m.Write([]byte(userID))
	m.Write([]byte{0, byte(kind)})
	return m.Sum(nil)[:16]
}

func (p pageTokens) encode(c gallery.Cursor, userID string, kind gallery.Kind) string {
	b, _ := json.Marshal(cursorJSON{T: c.CreateTime.UnixMicro(), I: c.ID}) // cannot fail
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(p.mac(payload, userID, kind))
}

func (p pageTokens) decode(token, userID string, kind gallery.Kind) (*gallery.Cursor, error) {
	if token == "" {
		return nil, nil
	}
	bad := apperr.Invalid("invalid page token", apperr.Violation{Field: "page_token", Description: "not a token from a previous page of this list"})
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return nil, bad
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, p.mac(payload, userID, kind)) {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, bad
	}
	var c cursorJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, bad
	}
	return &gallery.Cursor{CreateTime: time.UnixMicro(c.T).UTC(), ID: c.I}, nil
}
