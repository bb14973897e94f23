package identity

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/connectengine/photoshoot/services/account/internal/password"
)

// Lifetimes the issue fixes.
const (
	LinkTTL         = 10 * time.Minute
	SessionIdle     = 7 * 24 * time.Hour
	SessionAbsolute = 30 * 24 * time.Hour
)

// Store persists the rules' decisions. Its one implementation is
// internal/store; the interface exists because store imports this package
// for its types and rules, so this package cannot import store.
//
// Every method scoped to a user takes its id and filters on it: another
// user's row reads as not found. Methods that take mails or emit events
// write them to the outbox in the same transaction as their change.
type Store interface {
	// RequestMagicLink records the limits' hits (or refuses with TooMany),
	// stores the link's hash and queues its mail.
	RequestMagicLink(ctx context.Context, l MagicLink, limits []Limit, m Mail) error
	// RedeemMagicLink consumes the link atomically and opens a session for
	// its email's user, creating the user (UserCreated and welcome mail)
	// on first sign-in. ErrLinkInvalid when the link is not redeemable.
	RedeemMagicLink(ctx context.Context, tokenHash []byte, s NewSession, welcome Mail) (User, Session, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	User(ctx context.Context, userID string) (User, error)
	// UpdateUser locks the user, runs fn and saves what it changed.
	UpdateUser(ctx context.Context, userID string, fn func(u *User) error) (User, error)
	// PasswordAttempt counts an attempt against the bucket, refusing with
	// TooMany while FailureDelay says the caller must wait.
	PasswordAttempt(ctx context.Context, bucket string, now time.Time) error
	ClearAttempts(ctx context.Context, bucket string) error
	// OpenSession opens a session for an active user, replacing the stored
	// password hash with rehash when it is not empty.
	OpenSession(ctx context.Context, userID string, s NewSession, rehash string) (Session, error)
	// SetPassword stores the hash and deletes every session but keep.
	SetPassword(ctx context.Context, userID, hash, keepSessionID string, now time.Time) error
	// SessionByToken finds a live session (idle and absolute timeouts) of an
	// active user and marks it seen at now.
	SessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (User, Session, error)
	APIKeyBySecret(ctx context.Context, secretHash []byte, now time.Time) (User, APIKey, error)
	ListSessions(ctx context.Context, userID string, after *Cursor, limit int, now time.Time) ([]Session, error)
	DeleteSession(ctx context.Context, userID, sessionID string) error
	DeleteSessions(ctx context.Context, userID string) (int, error)
	CreateAPIKey(ctx context.Context, k APIKey, secretHash []byte) error
	ListAPIKeys(ctx context.Context, userID string, after *Cursor, limit int) ([]APIKey, error)
	DeleteAPIKey(ctx context.Context, userID, keyID string) error
	CreateContactMessage(ctx context.Context, m ContactMessage, limits []Limit, mails []Mail) error
	UserData(ctx context.Context, userID string) (UserData, error)
	CreateExport(ctx context.Context, userID string, now time.Time) (Export, error)
	Export(ctx context.Context, userID, exportID string) (Export, error)
	StartDeletion(ctx context.Context, userID string, now time.Time) (User, error)
	Audit(ctx context.Context, e AuditEntry) error
}

// MagicLink is a stored sign-in link.
type MagicLink struct {
	TokenHash  []byte
	Email      string
	CreateTime time.Time
	ExpireTime time.Time
}

// NewSession is a session about to be opened.
type NewSession struct {
	ID        string
	TokenHash []byte
	Now       time.Time
	Client    Client
}

// UserData is everything account holds about a user, for the export.
type UserData struct {
	User     User
	Sessions []Session
	APIKeys  []APIKey
	Contact  []ContactMessage
}

// Config are the rules' settings.
type Config struct {
	// PublicURL is where browsers reach the gateway; links start with it.
	PublicURL string
	// SupportEmail receives contact-form messages.
	SupportEmail string
	// AdminEmails are the (lower-case) emails of admins.
	AdminEmails []string
	// LinksPerEmail, LinksPerIP, ContactPerIP and FailedPasswords are the
	// limits per RateWindow; zero takes the numbers.
	LinksPerEmail, LinksPerIP, ContactPerIP, FailedPasswords int
	RateWindow                                               time.Duration
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.LinksPerEmail, 5)
	def(&c.LinksPerIP, 20)
	def(&c.ContactPerIP, 5)
	def(&c.FailedPasswords, 10)
	if c.RateWindow <= 0 {
		c.RateWindow = 15 * time.Minute
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

// Service is the account's use cases.
type Service struct {
	store  Store
	hasher *password.Hasher
	logger *slog.Logger
	cfg    Config
	admins map[string]bool
	now    func() time.Time
	newID  func() string
}

// NewService returns the use cases. now is the clock (time.Now when nil);
// tests inject a fake one to expire links and sessions.
func NewService(store Store, hasher *password.Hasher, logger *slog.Logger, cfg Config, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	cfg = cfg.withDefaults()
	admins := make(map[string]bool, len(cfg.AdminEmails))
	for _, e := range cfg.AdminEmails {
		admins[strings.ToLower(strings.TrimSpace(e))] = true
	}
	return &Service{store: store, hasher: hasher, logger: logger, cfg: cfg, admins: admins, now: now, newID: NewID}
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// withAdmin derives the admin flag from the configured emails.
func (s *Service) withAdmin(u User) User {
	u.Admin = u.State == StateActive && u.Email != "" && s.admins[u.Email]
	return u
}
