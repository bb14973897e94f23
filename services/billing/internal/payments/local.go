package payments

import (
	"context"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// localSessionPrefix starts every test-mode session id.
const localSessionPrefix = "test_"

// Local is test mode: checkout is a page the gateway serves at
// {PUBLIC_URL}/checkout/test/{purchase_id}, and the buyer's confirmation is
// the payment. Nothing is charged and nothing leaves the machine. Session
// ids are derived from the purchase id, so Local keeps no state and
// survives restarts.
type Local struct {
	publicURL string
}

// NewLocal returns the test-mode provider for a gateway at publicURL.
func NewLocal(publicURL string) *Local {
	return &Local{publicURL: strings.TrimRight(publicURL, "/")}
}

// CreateCustomer returns "": test mode has no customer records.
func (l *Local) CreateCustomer(context.Context, string) (string, error) { return "", nil }

// CreateCheckoutSession returns the test-mode checkout page.
func (l *Local) CreateCheckoutSession(_ context.Context, r CheckoutRequest) (CheckoutSession, error) {
	if _, err := uuid.Parse(r.PurchaseID); err != nil {
		return CheckoutSession{}, apperr.Invalid("purchase id must be a uuid", apperr.Violation{Field: "purchase_id", Description: "must be a uuid"})
	}
	return CheckoutSession{
		ID:  localSessionPrefix + r.PurchaseID,
		URL: l.publicURL + "/checkout/test/" + url.PathEscape(r.PurchaseID),
	}, nil
}

// GetCheckoutSession reports a test-mode session as paid: it is only read
// once the buyer confirmed the test checkout, which is the payment.
func (l *Local) GetCheckoutSession(_ context.Context, id string) (Session, error) {
	purchaseID, ok := strings.CutPrefix(id, localSessionPrefix)
	if _, err := uuid.Parse(purchaseID); !ok || err != nil {
		return Session{}, apperr.NotFound("checkout session %s not found", id)
	}
	return Session{
		ID:            id,
		PurchaseID:    purchaseID,
		PaymentStatus: PaymentPaid,
		Charge: &Charge{
			ID:      "test_charge_" + purchaseID,
			Details: Details{Name: "Test mode", CardBrand: "test", CardLast4: "0000"},
		},
	}, nil
}

// GetCharge finds nothing: test mode makes no charges.
func (l *Local) GetCharge(_ context.Context, id string) (Charge, error) {
	return Charge{}, apperr.NotFound("charge %s not found", id)
}
