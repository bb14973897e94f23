package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// APIVersion is the Stripe API version stripe-go v76 pins; the Stripe
// account's webhook endpoint should be created with it.
const APIVersion = stripe.APIVersion

// WebhookTolerance is how old a signed webhook may be; older deliveries are
// refused as replays.
const WebhookTolerance = 300 * time.Second

// Stripe is the production provider: Stripe Checkout in payment mode.
type Stripe struct {
	api *client.API
}

// NewStripe returns a Stripe client with secret key key. apiBase, when set,
// replaces https://api.stripe.com (tests point it at stripe-mock or a local
// server in Stripe's shape).
func NewStripe(key, apiBase string, logger *slog.Logger) *Stripe {
	cfg := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: 30 * time.Second, Transport: otelhttp.NewTransport(http.DefaultTransport)},
		LeveledLogger:     stripeLogger{logger},
		MaxNetworkRetries: stripe.Int64(2),
	}
	if apiBase != "" {
		cfg.URL = stripe.String(apiBase)
	}
	backends := &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, cfg),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, cfg),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, cfg),
	}
	return &Stripe{api: client.New(key, backends)}
}

// CreateCustomer creates a Stripe customer for the user; the idempotency
// key makes concurrent first purchases share one customer.
func (s *Stripe) CreateCustomer(ctx context.Context, userID string) (string, error) {
	params := &stripe.CustomerParams{Metadata: map[string]string{"user_id": userID}}
	params.Context = ctx
	params.SetIdempotencyKey("photoshoot-customer-" + userID)
	c, err := s.api.Customers.New(params)
	if err != nil {
		return "", stripeError("create customer", err)
	}
	return c.ID, nil
}

// CreateCheckoutSession creates a Checkout Session in payment mode with our
// purchase id as client_reference_id and the pack in metadata.
func (s *Stripe) CreateCheckoutSession(ctx context.Context, r CheckoutRequest) (CheckoutSession, error) {
	meta := map[string]string{"purchase_id": r.PurchaseID, "pack_id": r.PackID, "user_id": r.UserID, "credits": fmt.Sprint(r.Credits)}
	params := &stripe.CheckoutSessionParams{
		Mode:                     stripe.String(string(stripe.CheckoutSessionModePayment)),
		ClientReferenceID:        stripe.String(r.PurchaseID),
		SuccessURL:               stripe.String(r.SuccessURL),
		CancelURL:                stripe.String(r.CancelURL),
		BillingAddressCollection: stripe.String(string(stripe.CheckoutSessionBillingAddressCollectionRequired)),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency:   stripe.String(r.Currency),
				UnitAmount: stripe.Int64(r.Amount),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{
					Name:        stripe.String(r.PackName),
					Description: stripe.String(r.Description),
				},
			},
		}},
		Metadata:          meta,
		PaymentIntentData: &stripe.CheckoutSessionPaymentIntentDataParams{Metadata: meta},
	}
	if r.CustomerID != "" {
		params.Customer = stripe.String(r.CustomerID)
	}
	params.Context = ctx
	params.SetIdempotencyKey("photoshoot-checkout-" + r.PurchaseID)
	cs, err := s.api.CheckoutSessions.New(params)
	if err != nil {
		return CheckoutSession{}, stripeError("create checkout session", err)
	}
	return CheckoutSession{ID: cs.ID, URL: cs.URL}, nil
}

// GetCheckoutSession re-reads a session with its payment's latest charge.
func (s *Stripe) GetCheckoutSession(ctx context.Context, id string) (Session, error) {
	params := &stripe.CheckoutSessionParams{}
	params.Context = ctx
	params.AddExpand("payment_intent.latest_charge")
	cs, err := s.api.CheckoutSessions.Get(id, params)
	if err != nil {
		return Session{}, stripeError("get checkout session "+id, err)
	}
	out := Session{
		ID:            cs.ID,
		PurchaseID:    cs.ClientReferenceID,
		PaymentStatus: PaymentStatus(cs.PaymentStatus),
		AmountTotal:   cs.AmountTotal,
		Currency:      string(cs.Currency),
	}
	if cs.Customer != nil {
		out.CustomerID = cs.Customer.ID
	}
	if pi := cs.PaymentIntent; pi != nil {
		out.PaymentIntentID = pi.ID
		if pi.LatestCharge != nil {
			c := convertCharge(pi.LatestCharge)
			out.Charge = &c
		}
	}
	if out.Charge != nil && out.Charge.Details.Email == "" && cs.CustomerDetails != nil {
		out.Charge.Details.Email = cs.CustomerDetails.Email
	}
	return out, nil
}

// GetCharge re-reads a charge.
func (s *Stripe) GetCharge(ctx context.Context, id string) (Charge, error) {
	params := &stripe.ChargeParams{}
	params.Context = ctx
	ch, err := s.api.Charges.Get(id, params)
	if err != nil {
		return Charge{}, stripeError("get charge "+id, err)
	}
	return convertCharge(ch), nil
}

func convertCharge(ch *stripe.Charge) Charge {
	c := Charge{ID: ch.ID, Amount: ch.Amount, AmountRefunded: ch.AmountRefunded, Currency: string(ch.Currency)}
	if ch.PaymentIntent != nil {
		c.PaymentIntentID = ch.PaymentIntent.ID
	}
	if bd := ch.BillingDetails; bd != nil {
		c.Details.Name, c.Details.Email = bd.Name, bd.Email
		if a := bd.Address; a != nil {
			c.Details.Line1, c.Details.Line2, c.Details.City = a.Line1, a.Line2, a.City
			c.Details.PostalCode, c.Details.State, c.Details.Country = a.PostalCode, a.State, a.Country
		}
	}
	if pm := ch.PaymentMethodDetails; pm != nil && pm.Card != nil {
		c.Details.CardBrand, c.Details.CardLast4 = string(pm.Card.Brand), pm.Card.Last4
	}
	return c
}

// stripeError classifies a Stripe failure: unknown objects are NotFound,
// outages and rate limits are Unavailable (retryable), and anything else is
// our bug and stays internal.
func stripeError(op string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		switch {
		case se.HTTPStatusCode == http.StatusNotFound:
			return fmt.Errorf("stripe %s: %w", op, apperr.NotFound("not found at the payment provider"))
		case se.HTTPStatusCode == http.StatusTooManyRequests || se.HTTPStatusCode >= 500:
			return apperr.Unavailable("the payment provider is unavailable", fmt.Errorf("stripe %s: %w", op, err))
		}
		return fmt.Errorf("stripe %s: %w", op, err)
	}
	return apperr.Unavailable("the payment provider is unavailable", fmt.Errorf("stripe %s: %w", op, err))
}

// Event is a verified Stripe webhook event, reduced to what billing reads.
type Event struct {
	ID   string
	Type string
	// ObjectID is data.object.id: the session, charge or dispute.
	ObjectID string
	// ChargeID is data.object.charge, set on disputes.
	ChargeID string
}

// ErrBadSignature is returned for any webhook whose Stripe-Signature does
// not verify: missing, malformed, wrong secret, altered body or too old.
var ErrBadSignature = apperr.Invalid("invalid Stripe-Signature",
	apperr.Violation{Field: "signature", Description: "must be a valid Stripe signature of the payload, at most 300 s old"})

// ParseWebhook verifies payload against the Stripe-Signature header with
// secret and WebhookTolerance, and decodes the event. Events of other API
// versions are accepted: only the id, type and object ids are read, and
// their shapes are stable across versions; the objects themselves are
// always re-read from the API.
func ParseWebhook(payload []byte, header, secret string) (Event, error) {
	ev, err := webhook.ConstructEventWithOptions(payload, header, secret, webhook.ConstructEventOptions{
		Tolerance:                WebhookTolerance,
		IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	out := Event{ID: ev.ID, Type: string(ev.Type)}
	if ev.Data != nil && len(ev.Data.Raw) > 0 {
		var obj struct {
			ID     string          `json:"id"`
			Charge json.RawMessage `json:"charge"`
		}
		if err := json.Unmarshal(ev.Data.Raw, &obj); err != nil {
			return Event{}, apperr.Invalid("malformed event object", apperr.Violation{Field: "payload", Description: "data.object must be an object"})
		}
		out.ObjectID = obj.ID
		// A dispute's charge is an id, or an object when expanded.
		var chargeID string
		if json.Unmarshal(obj.Charge, &chargeID) != nil {
			var ch struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(obj.Charge, &ch)
			chargeID = ch.ID
		}
		out.ChargeID = chargeID
	}
	if out.ID == "" || out.Type == "" {
		return Event{}, apperr.Invalid("event without id or type", apperr.Violation{Field: "payload", Description: "must be a Stripe event"})
	}
	return out, nil
}

// stripeLogger sends stripe-go's logs to slog at debug level (errors at
// warn): the caller logs failures once, at the edge.
type stripeLogger struct{ l *slog.Logger }

func (s stripeLogger) Debugf(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s stripeLogger) Infof(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s stripeLogger) Warnf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s stripeLogger) Errorf(format string, v ...any) { s.l.Warn(fmt.Sprintf(format, v...)) }
