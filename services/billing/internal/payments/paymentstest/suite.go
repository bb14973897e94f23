// Package paymentstest is the contract every payments.Provider meets
// (RunSuite), plus the servers the tests run providers against: FakeStripe,
// a stateful server in the Stripe API's shape, and stripe-mock.
package paymentstest

import (
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/billing/internal/payments"
)

// Harness is a provider under test and how to pay one of its sessions
// (for test mode, the confirmation itself is the payment: Pay does
// nothing).
type Harness struct {
	Provider payments.Provider
	Pay      func(sessionID string)
}

// RunSuite checks the contract billing relies on: a checkout session is
// created per purchase, idempotently; re-reading it returns our purchase id
// and, once paid, PaymentPaid; unknown sessions are NotFound.
func RunSuite(t *testing.T, h Harness) {
	t.Run("customer_is_idempotent_per_user", func(t *testing.T) {
		user := uuid.NewString()
		a, err := h.Provider.CreateCustomer(t.Context(), user)
		if err != nil {
			t.Fatal(err)
		}
		b, err := h.Provider.CreateCustomer(t.Context(), user)
		if err != nil || a != b {
			t.Fatalf("second create = %q, %v; want %q", b, err, a)
		}
	})
	t.Run("checkout_round_trip", func(t *testing.T) {
		purchase := uuid.NewString()
		req := payments.CheckoutRequest{
			PurchaseID: purchase, UserID: uuid.NewString(), PackID: "starter", PackName: "Starter", Description: "20 shots",
			Credits: 20, Amount: 900, Currency: "usd", SuccessURL: "http://localhost:8080/billing?ok", CancelURL: "http://localhost:8080/billing",
		}
		cs, err := h.Provider.CreateCheckoutSession(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if u, err := url.Parse(cs.URL); err != nil || !u.IsAbs() || cs.ID == "" {
			t.Fatalf("session %+v: want an id and an absolute URL", cs)
		}
		again, err := h.Provider.CreateCheckoutSession(t.Context(), req)
		if err != nil || again.ID != cs.ID {
			t.Fatalf("repeat create = %+v, %v; want session %s", again, err, cs.ID)
		}
		h.Pay(cs.ID)
		s, err := h.Provider.GetCheckoutSession(t.Context(), cs.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != cs.ID || s.PurchaseID != purchase || s.PaymentStatus != payments.PaymentPaid {
			t.Fatalf("session = %+v; want id %s, purchase %s, paid", s, cs.ID, purchase)
		}
		if s.Charge == nil || s.Charge.Details.CardBrand == "" {
			t.Fatalf("paid session without a charge's card details: %+v", s.Charge)
		}
	})
	t.Run("unknown_session_is_not_found", func(t *testing.T) {
		_, err := h.Provider.GetCheckoutSession(t.Context(), "cs_test_unknown_"+uuid.NewString())
		if apperr.KindOf(err) != apperr.KindNotFound {
			t.Fatalf("err = %v, want NotFound", err)
		}
	})
}
