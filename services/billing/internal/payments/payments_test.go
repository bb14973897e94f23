package payments_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/services/billing/internal/payments"
	"github.com/connectengine/photoshoot/services/billing/internal/payments/paymentstest"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLocalMeetsContract(t *testing.T) {
	t.Parallel()
	paymentstest.RunSuite(t, paymentstest.Harness{Provider: payments.NewLocal("http://localhost:8080"), Pay: func(string) {}})
}

func TestStripeMeetsContract(t *testing.T) {
	t.Parallel()
	fake := paymentstest.NewFakeStripe(t)
	paymentstest.RunSuite(t, paymentstest.Harness{
		Provider: payments.NewStripe("sk_test_fake", fake.URL, discard()),
		Pay:      func(id string) { fake.Pay(id) },
	})
}

// TestStripeAgainstStripeMock runs every stripe-go call billing makes
// against stripe-mock, which validates requests against Stripe's OpenAPI
// specification and answers in its shape.
func TestStripeAgainstStripeMock(t *testing.T) {
	t.Parallel()
	base := paymentstest.StartStripeMock(t)
	s := payments.NewStripe("sk_test_123", base, discard())
	ctx := t.Context()
	cus, err := s.CreateCustomer(ctx, uuid.NewString())
	if err != nil || cus == "" {
		t.Fatalf("create customer = %q, %v", cus, err)
	}
	cs, err := s.CreateCheckoutSession(ctx, payments.CheckoutRequest{
		PurchaseID: uuid.NewString(), UserID: uuid.NewString(), CustomerID: cus, PackID: "starter", PackName: "Starter",
		Description: "20 studio shots", Credits: 20, Amount: 900, Currency: "usd",
		SuccessURL: "http://localhost:8080/billing?checkout=success", CancelURL: "http://localhost:8080/billing",
	})
	if err != nil || cs.ID == "" || cs.URL == "" {
		t.Fatalf("create checkout session = %+v, %v", cs, err)
	}
	sess, err := s.GetCheckoutSession(ctx, cs.ID)
	if err != nil || sess.ID == "" || sess.PaymentStatus == "" {
		t.Fatalf("get checkout session = %+v, %v", sess, err)
	}
	if sess.Charge == nil || sess.Charge.Details.CardLast4 == "" {
		t.Fatalf("expanded latest charge missing: %+v", sess.Charge)
	}
	ch, err := s.GetCharge(ctx, sess.Charge.ID)
	if err != nil || ch.ID == "" || ch.Details.CardBrand == "" {
		t.Fatalf("get charge = %+v, %v", ch, err)
	}
}
