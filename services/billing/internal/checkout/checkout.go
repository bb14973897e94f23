package checkout

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/billing/internal/payments"
)

// ReasonTestModeDisabled refuses a test-mode confirmation while a Stripe key
// is configured.
const ReasonTestModeDisabled = "TEST_MODE_DISABLED"

// ReasonWebhooksDisabled refuses webhooks when no webhook secret is set.
const ReasonWebhooksDisabled = "WEBHOOKS_DISABLED"

// Status is where a purchase is.
type Status string

// The purchase states: open → paid (→ refunded | disputed), or open → failed.
const (
	StatusOpen     Status = "open"
	StatusPaid     Status = "paid"
	StatusFailed   Status = "failed"
	StatusRefunded Status = "refunded"
	StatusDisputed Status = "disputed"
)

// Purchase is a pack bought, or being bought.
type Purchase struct {
	ID              string
	UserID          string
	PackID          string
	Credits         int64
	Amount          int64
	Currency        string
	Status          Status
	SessionID       string
	PaymentIntentID string
	ChargeID        string
	RefundedCredits int64
	CreateTime      time.Time
}

// Fulfilment is a paid session to turn into credits.
type Fulfilment struct {
	// EventID and EventType name the webhook; empty for test mode.
	EventID   string
	EventType string
	Session   payments.Session
	Time      time.Time
}

// Refund is a charge's refunded amount as the provider reports it now.
type Refund struct {
	EventID   string
	EventType string
	Charge    payments.Charge
	Time      time.Time
}

// Store persists purchases. Its one implementation is internal/store; the
// interface cuts the import cycle (store uses this package's types).
type Store interface {
	CreatePurchase(ctx context.Context, p Purchase) error
	// Purchase reads one, scoped to userID unless it is empty.
	Purchase(ctx context.Context, id, userID string) (Purchase, error)
	SetPurchaseSession(ctx context.Context, id, sessionID string) error
	Purchases(ctx context.Context, userID string) ([]Purchase, error)
	Customer(ctx context.Context, userID string) (string, error)
	// SaveCustomer stores the user's customer id unless one is stored,
	// and returns the stored one.
	SaveCustomer(ctx context.Context, userID, customerID string) (string, error)
	WebhookSeen(ctx context.Context, eventID string) (bool, error)
	// RecordWebhook marks an event handled that changes nothing.
	RecordWebhook(ctx context.Context, eventID, eventType string) error
	// Fulfil records the event, marks the purchase paid, grants its
	// credits (once per purchase) and stores the billing details, in one
	// transaction. It reports whether this call granted.
	Fulfil(ctx context.Context, f Fulfilment) (bool, error)
	MarkFailed(ctx context.Context, eventID, eventType, purchaseID string) error
	Refund(ctx context.Context, r Refund) error
	MarkDisputed(ctx context.Context, eventID, eventType string, charge payments.Charge) error
	Details(ctx context.Context, userID string) (payments.Details, error)
}

// Config configures checkout.
type Config struct {
	Packs     []Pack
	PublicURL string
	// TestMode is on when no Stripe key is set (dev mode only): the local
	// provider is in use and ConfirmTestCheckout is allowed.
	TestMode bool
	// WebhookSecret verifies Stripe-Signature; empty disables webhooks.
	WebhookSecret string
}

// Service sells packs and fulfils purchases.
type Service struct {
	store    Store
	provider payments.Provider
	cfg      Config
	logger   *slog.Logger
	now      func() time.Time
}

// NewService returns the checkout use cases.
func NewService(store Store, provider payments.Provider, cfg Config, logger *slog.Logger) *Service {
	return &Service{store: store, provider: provider, cfg: cfg, logger: logger, now: time.Now}
}

// Packs are the packs on sale, cheapest first.
func (s *Service) Packs() []Pack { return append([]Pack(nil), s.cfg.Packs...) }

func (s *Service) pack(id string) (Pack, bool) {
	for _, p := range s.cfg.Packs {
		if p.ID == id {
			return p, true
		}
	}
	return Pack{}, false
}

// CreateCheckoutSession records a purchase of packID for the user and
// returns the provider's checkout URL and the purchase id.
func (s *Service) CreateCheckoutSession(ctx context.Context, userID, packID string) (string, string, error) {
	pack, ok := s.pack(packID)
	if !ok {
		return "", "", apperr.Invalid("unknown pack", apperr.Violation{Field: "pack_id", Description: "must be one of ListPacks"})
	}
	p := Purchase{
		ID: uuid.Must(uuid.NewV7()).String(), UserID: userID, PackID: pack.ID, Credits: pack.Credits,
		Amount: pack.Price, Currency: pack.Currency, Status: StatusOpen, CreateTime: s.now().UTC(),
	}
	if err := s.store.CreatePurchase(ctx, p); err != nil {
		return "", "", err
	}
	customer, err := s.customer(ctx, userID)
	if err != nil {
		return "", "", err
	}
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	cs, err := s.provider.CreateCheckoutSession(ctx, payments.CheckoutRequest{
		PurchaseID: p.ID, UserID: userID, CustomerID: customer, PackID: pack.ID, PackName: pack.Name,
		Description: pack.Description, Credits: pack.Credits, Amount: pack.Price, Currency: pack.Currency,
		SuccessURL: base + "/billing?checkout=success&purchase=" + url.QueryEscape(p.ID),
		CancelURL:  base + "/billing?checkout=cancelled&purchase=" + url.QueryEscape(p.ID),
	})
	if err != nil {
		return "", "", fmt.Errorf("checkout for purchase %s: %w", p.ID, err)
	}
	if err := s.store.SetPurchaseSession(ctx, p.ID, cs.ID); err != nil {
		return "", "", err
	}
	return cs.URL, p.ID, nil
}

// customer returns the user's provider customer, creating it on first use.
func (s *Service) customer(ctx context.Context, userID string) (string, error) {
	id, err := s.store.Customer(ctx, userID)
	if err != nil || id != "" {
		return id, err
	}
	id, err = s.provider.CreateCustomer(ctx, userID)
	if err != nil || id == "" {
		return "", err
	}
	return s.store.SaveCustomer(ctx, userID, id)
}

// ConfirmTestCheckout completes a test-mode purchase through the same
// fulfilment as Stripe's webhook. It is refused whenever a Stripe key is
// configured, and another user's purchase is not found.
func (s *Service) ConfirmTestCheckout(ctx context.Context, userID, purchaseID string) (Purchase, error) {
	if !s.cfg.TestMode {
		return Purchase{}, apperr.Precondition(ReasonTestModeDisabled, "test-mode checkout is not available")
	}
	p, err := s.store.Purchase(ctx, purchaseID, userID)
	if err != nil {
		return Purchase{}, err
	}
	if p.SessionID == "" {
		return Purchase{}, apperr.NotFound("purchase %s has no checkout session", purchaseID)
	}
	sess, err := s.provider.GetCheckoutSession(ctx, p.SessionID)
	if err != nil {
		return Purchase{}, err
	}
	if err := s.fulfil(ctx, Fulfilment{Session: sess}); err != nil {
		return Purchase{}, err
	}
	return s.store.Purchase(ctx, purchaseID, userID)
}

// fulfil is the one path by which a purchase is paid out. Only a session
// the provider reports as paid grants.
func (s *Service) fulfil(ctx context.Context, f Fulfilment) error {
	if f.Session.PaymentStatus != payments.PaymentPaid {
		return apperr.Precondition("PAYMENT_NOT_PAID", "the checkout session is not paid")
	}
	f.Time = s.now().UTC()
	granted, err := s.store.Fulfil(ctx, f)
	if err != nil {
		return err
	}
	if granted {
		s.logger.InfoContext(ctx, "purchase fulfilled", "purchase", f.Session.PurchaseID, "event", f.EventID)
	}
	return nil
}

// Stripe event types billing acts on.
const (
	EventSessionCompleted      = "checkout.session.completed"
	EventAsyncPaymentSucceeded = "checkout.session.async_payment_succeeded"
	EventAsyncPaymentFailed    = "checkout.session.async_payment_failed"
	EventChargeRefunded        = "charge.refunded"
	EventDisputeCreated        = "charge.dispute.created"
)

// HandleWebhook verifies and applies one Stripe webhook delivery. A bad
// signature is apperr.Invalid with nothing read or written. Duplicates and
// events about objects that are not ours succeed without effect, so Stripe
// stops retrying them; a provider outage is Unavailable, so it retries.
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, signature string) error {
	if s.cfg.WebhookSecret == "" {
		return apperr.Precondition(ReasonWebhooksDisabled, "Stripe webhooks are not configured")
	}
	ev, err := payments.ParseWebhook(payload, signature, s.cfg.WebhookSecret)
	if err != nil {
		return err
	}
	seen, err := s.store.WebhookSeen(ctx, ev.ID)
	if err != nil || seen {
		return err
	}
	switch ev.Type {
	case EventSessionCompleted, EventAsyncPaymentSucceeded, EventAsyncPaymentFailed:
		sess, err := s.provider.GetCheckoutSession(ctx, ev.ObjectID)
		if apperr.KindOf(err) == apperr.KindNotFound {
			s.logger.WarnContext(ctx, "webhook for an unknown checkout session", "event", ev.ID, "session", ev.ObjectID)
			return s.store.RecordWebhook(ctx, ev.ID, ev.Type)
		}
		if err != nil {
			return err
		}
		switch {
		case sess.PaymentStatus == payments.PaymentPaid:
			err = s.fulfil(ctx, Fulfilment{EventID: ev.ID, EventType: ev.Type, Session: sess})
		case ev.Type == EventAsyncPaymentFailed:
			err = s.store.MarkFailed(ctx, ev.ID, ev.Type, sess.PurchaseID)
		default: // completed but unpaid: an async payment is pending
			err = s.store.RecordWebhook(ctx, ev.ID, ev.Type)
		}
		return s.ignoreForeign(ctx, ev, err)
	case EventChargeRefunded, EventDisputeCreated:
		chargeID := ev.ObjectID
		if ev.Type == EventDisputeCreated {
			chargeID = ev.ChargeID
		}
		ch, err := s.provider.GetCharge(ctx, chargeID)
		if apperr.KindOf(err) == apperr.KindNotFound {
			s.logger.WarnContext(ctx, "webhook for an unknown charge", "event", ev.ID, "charge", chargeID)
			return s.store.RecordWebhook(ctx, ev.ID, ev.Type)
		}
		if err != nil {
			return err
		}
		if ev.Type == EventChargeRefunded {
			err = s.store.Refund(ctx, Refund{EventID: ev.ID, EventType: ev.Type, Charge: ch, Time: s.now().UTC()})
		} else {
			err = s.store.MarkDisputed(ctx, ev.ID, ev.Type, ch)
		}
		return s.ignoreForeign(ctx, ev, err)
	default:
		return s.store.RecordWebhook(ctx, ev.ID, ev.Type)
	}
}

// ignoreForeign acknowledges an event about a purchase we do not have (an
// object of another integration on the same Stripe account): retrying it
// would never succeed.
func (s *Service) ignoreForeign(ctx context.Context, ev payments.Event, err error) error {
	if apperr.KindOf(err) != apperr.KindNotFound {
		return err
	}
	s.logger.WarnContext(ctx, "webhook about no purchase of ours", "event", ev.ID, "type", ev.Type, "error", err)
	return s.store.RecordWebhook(ctx, ev.ID, ev.Type)
}

// Details are the user's billing details; empty before the first payment.
func (s *Service) Details(ctx context.Context, userID string) (payments.Details, error) {
	return s.store.Details(ctx, userID)
}

// Purchases are all the user's purchases, newest first.
func (s *Service) Purchases(ctx context.Context, userID string) ([]Purchase, error) {
	return s.store.Purchases(ctx, userID)
}

// RefundCredits is how many of a purchase's credits a refunded amount
// takes back: proportional, rounded down, all of them for a full refund.
func RefundCredits(p Purchase, amountRefunded int64) int64 {
	switch {
	case amountRefunded <= 0 || p.Amount <= 0:
		return 0
	case amountRefunded >= p.Amount:
		return p.Credits
	}
	return p.Credits * amountRefunded / p.Amount
}

// GrantKey is the idempotency key of a purchase's grant.
func GrantKey(purchaseID string) string { return "purchase:" + purchaseID }
