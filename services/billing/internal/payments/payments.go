// Package payments is the port to the payment provider. Stripe is the
// production implementation; Local is test mode, where the checkout page is
// our own ("no card is charged") and confirming it completes the purchase
// through the same fulfilment code as a Stripe webhook. Both pass the
// contract suite in paymentstest.
package payments

import (
	"context"
)

// Provider is what billing needs from a payment provider.
type Provider interface {
	// CreateCustomer creates the provider's customer record for a user and
	// returns its id; "" when the provider has none. Idempotent per user.
	CreateCustomer(ctx context.Context, userID string) (string, error)
	// CreateCheckoutSession starts a hosted checkout for one pack.
	// Idempotent per purchase id.
	CreateCheckoutSession(ctx context.Context, r CheckoutRequest) (CheckoutSession, error)
	// GetCheckoutSession re-reads a session: the source of truth for
	// whether it was paid, whatever a webhook claimed. apperr.NotFound
	// when the provider does not know it.
	GetCheckoutSession(ctx context.Context, id string) (Session, error)
	// GetCharge re-reads a charge, for refunds and disputes.
	GetCharge(ctx context.Context, id string) (Charge, error)
}

// CheckoutRequest describes the pack being bought.
type CheckoutRequest struct {
	PurchaseID string
	UserID     string
	// CustomerID is the provider's customer, when it has them.
	CustomerID  string
	PackID      string
	PackName    string
	Description string
	Credits     int64
	// Amount is in minor units of Currency.
	Amount     int64
	Currency   string
	SuccessURL string
	CancelURL  string
}

// CheckoutSession is where to send the buyer.
type CheckoutSession struct {
	ID  string
	URL string
}

// PaymentStatus is a session's payment state, as Stripe names it.
type PaymentStatus string

// The payment states; only PaymentPaid grants credits.
const (
	PaymentPaid   PaymentStatus = "paid"
	PaymentUnpaid PaymentStatus = "unpaid"
)

// Session is a checkout session as the provider reports it now.
type Session struct {
	ID string
	// PurchaseID is our purchase (Checkout's client_reference_id).
	PurchaseID      string
	PaymentStatus   PaymentStatus
	PaymentIntentID string
	CustomerID      string
	AmountTotal     int64
	Currency        string
	// Charge is the payment's latest charge, when there is one.
	Charge *Charge
}

// Charge is one card payment.
type Charge struct {
	ID              string
	PaymentIntentID string
	Amount          int64
	AmountRefunded  int64
	Currency        string
	Details         Details
}

// Details are billing details from a payment: the buyer's name, email,
// address and card.
type Details struct {
	Name       string
	Email      string
	Line1      string
	Line2      string
	City       string
	PostalCode string
	State      string
	Country    string
	CardBrand  string
	CardLast4  string
}

// Empty reports whether nothing is known.
func (d Details) Empty() bool { return d == Details{} }
