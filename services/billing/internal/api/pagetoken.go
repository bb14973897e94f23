package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
)

// pageTokens makes ListTransactions' page tokens: opaque and tamper-evident
// keyset cursors. A token is base64url of
//
//	create_time (8 bytes, Unix ns) ‖ transaction id (16 bytes) ‖ HMAC-SHA256[:16]
//
// with the MAC over the user id and the cursor, keyed by a key derived from
// SERVICE_AUTH_SECRET. A token is valid only for the user it was issued
// to, and a changed byte is refused.
type pageTokens struct {
	key []byte
}

const pageTokenMAC = 16

func newPageTokens(secret []byte) *pageTokens {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("photoshoot billing page token v1"))
	return &pageTokens{key: m.Sum(nil)}
}

func (p *pageTokens) mac(user string, body []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)[:pageTokenMAC]
}

func (p *pageTokens) encode(user string, c ledger.Cursor) string {
	id := uuid.MustParse(c.ID)
	body := binary.BigEndian.AppendUint64(nil, uint64(c.Time.UnixNano()))
	body = append(body, id[:]...)
	return base64.RawURLEncoding.EncodeToString(append(body, p.mac(user, body)...))
}

var errBadPageToken = apperr.Invalid("invalid page token", apperr.Violation{Field: "page_token", Description: "must be a next_page_token from this list"})

func (p *pageTokens) decode(user, token string) (ledger.Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 8+16+pageTokenMAC {
		return ledger.Cursor{}, errBadPageToken
	}
	body, mac := raw[:24], raw[24:]
	if !hmac.Equal(mac, p.mac(user, body)) {
		return ledger.Cursor{}, errBadPageToken
	}
	id, _ := uuid.FromBytes(body[8:24])
	return ledger.Cursor{Time: time.Unix(0, int64(binary.BigEndian.Uint64(body[:8]))).UTC(), ID: id.String()}, nil
}
