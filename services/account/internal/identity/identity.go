// Package identity holds the account service's rules: who a user is, how
// they sign in (single-use magic links, optional argon2id passwords), the
// sessions and API keys that keep them signed in, their profile and
// preferences, the rate limits that protect all of it, and the start of
// their privacy requests. It knows nothing about gRPC or SQL: internal/api
// translates requests and internal/store persists what these rules decide,
// writing outbox events in the same transaction.
package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/mail"
	"strings"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// State is where an account is in its life.
type State string

// The account states.
const (
	StateActive   State = "active"
	StateDeleting State = "deleting"
	StateDeleted  State = "deleted"
)

// Preferences are the user's studio defaults, kept server-side so they
// follow the user across devices.
type Preferences struct {
	DefaultSceneID     string
	DefaultAspectRatio string
	DefaultSize        string
	EmailNotifications bool
	AnalyticsConsent   bool
}

// DefaultPreferences are a new user's.
var DefaultPreferences = Preferences{DefaultAspectRatio: "1:1", DefaultSize: "1K", EmailNotifications: true}

// User is a seller's account.
type User struct {
	ID           string
	Email        string
	DisplayName  string
	State        State
	Preferences  Preferences
	PasswordHash string
	CreateTime   time.Time
	// Admin is derived from the configured admin emails, never stored.
	Admin bool
}

// HasPassword reports whether password sign-in is set up.
func (u User) HasPassword() bool { return u.PasswordHash != "" }

// Session is one signed-in browser or device.
type Session struct {
	ID           string
	UserID       string
	CreateTime   time.Time
	LastSeenTime time.Time
	ExpireTime   time.Time
	UserAgent    string
	IPAddress    string
}

// APIKey is a credential for the public REST API; only its hash is stored.
type APIKey struct {
	ID           string
	UserID       string
	Name         string
	Prefix       string
	CreateTime   time.Time
	LastUsedTime time.Time
}

// ContactMessage is a message sent to support.
type ContactMessage struct {
	ID         string
	UserID     string
	Name       string
	Email      string
	Message    string
	CreateTime time.Time
}

// Client describes where a request came from, as the gateway reports it.
type Client struct {
	IP        string
	UserAgent string
}

// Mail is a mail to send through the outbox: the store appends it as a
// MailRequested event in the same transaction as the change it announces.
type Mail struct {
	ID       string
	Template string
	To       string
	Data     map[string]string
}

// Mail templates (rendered by internal/mail).
const (
	TemplateSignInLink     = "sign_in_link"
	TemplateWelcome        = "welcome"
	TemplateExportReady    = "export_ready"
	TemplateAccountDeleted = "account_deleted"
	TemplateContactMessage = "contact_message"
	TemplateContactCopy    = "contact_copy"
)

// Cursor is a keyset position in a newest-first list.
type Cursor struct {
	Time time.Time
	ID   string
}

// Limit is one sliding-window rate limit: at most Max hits per Window in
// Bucket. Buckets never hold a plain email address.
type Limit struct {
	Bucket string
	Max    int
	Window time.Duration
}

// Secret is a random 256-bit credential (link token, session token, API key
// secret) in its wire form and the SHA-256 that is all we store.
type Secret struct {
	Token string
	Hash  []byte
}

// NewSecret draws 32 bytes from crypto/rand; prefix is prepended to the
// wire form (API keys use "ps_").
func NewSecret(prefix string) Secret {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return Secret{Token: tok, Hash: HashSecret(tok)}
}

// HashSecret is the stored form of a secret. A 256-bit random secret needs
// no salt or stretching: SHA-256 of it cannot be brute-forced.
func HashSecret(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NormalizeEmail trims and lower-cases an address and checks it is a bare
// addr-spec of sensible length.
func NormalizeEmail(field, email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	bad := func(d string) error {
		return apperr.Invalid("invalid email", apperr.Violation{Field: field, Description: d})
	}
	if e == "" {
		return "", bad("required")
	}
	if len(e) > 254 {
		return "", bad("at most 254 characters")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", bad("must be an email address such as name@example.com")
	}
	return e, nil
}

// emailBucket names a rate-limit bucket for an email without storing it.
func emailBucket(kind, email string) string {
	h := sha256.Sum256([]byte(email))
	return kind + ":email:" + base64.RawURLEncoding.EncodeToString(h[:16])
}

func ipBucket(kind, ip string) string { return kind + ":ip:" + ip }
