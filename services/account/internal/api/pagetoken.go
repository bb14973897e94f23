package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

// pageCodec makes page tokens: base64url(JSON cursor) "." base64url(HMAC-
// SHA256 of it, 16 bytes). The cursor names the list and the user, so a
// token is refused by another list or for another user, and any edit breaks
// the MAC. The key is derived from SERVICE_AUTH_SECRET (see app).
type pageCodec struct{ key []byte }

type pageCursor struct {
	List string `json:"l"`
	User string `json:"u"`
	Time int64  `json:"t"`
	ID   string `json:"i"`
}

var errBadPageToken = apperr.Invalid("invalid page token", apperr.Violation{Field: "page_token", Description: "not a token from a previous page of this list"})

func (p pageCodec) mac(data string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(data))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (p pageCodec) encode(list, user string, c identity.Cursor) string {
	b, _ := json.Marshal(pageCursor{List: list, User: user, Time: c.Time.UnixNano(), ID: c.ID})
	data := base64.RawURLEncoding.EncodeToString(b)
	return data + "." + p.mac(data)
}

// decode returns nil for an empty token (the first page).
func (p pageCodec) decode(list, user, token string) (*identity.Cursor, error) {
	if token == "" {
		return nil, nil
	}
	data, sig, ok := strings.Cut(token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(p.mac(data))) {
		return nil, errBadPageToken
	}
	b, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		return nil, errBadPageToken
	}
	var c pageCursor
	if err := json.Unmarshal(b, &c); err != nil || c.List != list || c.User != user {
		return nil, errBadPageToken
	}
	return &identity.Cursor{Time: time.Unix(0, c.Time), ID: c.ID}, nil
}
