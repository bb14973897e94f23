package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

// Page sizes of list RPCs.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// pageTokens makes opaque, tamper-evident page tokens: base64url of the JSON
// keyset cursor, a dot, and base64url of its HMAC-SHA256 under a key derived
// from SERVICE_AUTH_SECRET and the caller's user id, so a token neither
// decodes into another position nor works for another user.
type pageTokens struct {
	key []byte
}

func newPageTokens(secret []byte) pageTokens {
	return newPageTokensFor(secret, "")
}

// newPageTokensFor keys the tokens of one list apart from the others, so a
// token of the job list is no token of the Look list.
func newPageTokensFor(secret []byte, list string) pageTokens {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("photoshoot generation page token v1"))
	if list != "" {
		m.Write([]byte{0})
		m.Write([]byte(list))
	}
	return pageTokens{key: m.Sum(nil)}
}

func (p pageTokens) mac(userID string, body []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

func (p pageTokens) encode(userID string, c *job.Cursor) string {
	if c == nil {
		return ""
	}
	body, _ := json.Marshal(c) // a struct of a time and a string always marshals
	enc := base64.RawURLEncoding
	return enc.EncodeToString(body) + "." + enc.EncodeToString(p.mac(userID, body))
}

func (p pageTokens) decode(userID, token string) (*job.Cursor, error) {
	if token == "" {
		return nil, nil
	}
	bad := apperr.Invalid("invalid page token", apperr.Violation{Field: "page_token", Description: "not a token from this list"})
	b64, sig64, ok := strings.Cut(token, ".")
	if !ok {
		return nil, bad
	}
	body, err1 := base64.RawURLEncoding.DecodeString(b64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, p.mac(userID, body)) {
		return nil, bad
	}
	var c job.Cursor
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, bad
	}
	return &c, nil
}

func pageSize(n int32) int {
	switch {
	case n <= 0:
		return defaultPageSize
	case n > maxPageSize:
		return maxPageSize
	}
	return int(n)
}
