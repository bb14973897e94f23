package paymentstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FakeStripe is a small HTTP server in the Stripe API's shape for the calls
// billing makes (customers, checkout sessions, charges). Unlike stripe-mock,
// which answers with canned objects, it keeps state, so a test can pay a
// session, refund a charge, and see fulfilment read the truth back.
type FakeStripe struct {
	URL string

	mu        sync.Mutex
	seq       int
	idem      map[string][]byte // Idempotency-Key → response
	sessions  map[string]*fakeSession
	charges   map[string]*fakeCharge
	customers int
}

type fakeSession struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	ClientReferenceID string            `json:"client_reference_id"`
	Customer          *string           `json:"customer"`
	Mode              string            `json:"mode"`
	PaymentStatus     string            `json:"payment_status"`
	Status            string            `json:"status"`
	AmountTotal       int64             `json:"amount_total"`
	Currency          string            `json:"currency"`
	Metadata          map[string]string `json:"metadata"`
	URL               string            `json:"url"`
	paymentIntent     string
}

type fakeCharge struct {
	ID             string `json:"id"`
	Object         string `json:"object"`
	Amount         int64  `json:"amount"`
	AmountRefunded int64  `json:"amount_refunded"`
	Currency       string `json:"currency"`
	PaymentIntent  string `json:"payment_intent"`
	BillingDetails struct {
		Name    string            `json:"name"`
		Email   string            `json:"email"`
		Address map[string]string `json:"address"`
	} `json:"billing_details"`
	PaymentMethodDetails struct {
		Type string `json:"type"`
		Card struct {
			Brand string `json:"brand"`
			Last4 string `json:"last4"`
		} `json:"card"`
	} `json:"payment_method_details"`
}

// NewFakeStripe starts a fake server for the test.
func NewFakeStripe(t testing.TB) *FakeStripe {
	t.Helper()
	f := &FakeStripe{idem: map[string][]byte{}, sessions: map[string]*fakeSession{}, charges: map[string]*fakeCharge{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *FakeStripe) id(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s_fake%06d", prefix, f.seq)
}

func (f *FakeStripe) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk_") {
		writeError(w, http.StatusUnauthorized, "authentication_error", "no key")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.Header.Get("Idempotency-Key")
	if key != "" && r.Method == http.MethodPost {
		if body, ok := f.idem[key]; ok {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
			return
		}
	}
	var (
		obj    any
		status = http.StatusOK
	)
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/v1/customers":
		f.customers++
		obj = map[string]any{"id": f.id("cus"), "object": "customer", "metadata": map[string]string{"user_id": r.PostForm.Get("metadata[user_id]")}}
	case r.Method == http.MethodPost && path == "/v1/checkout/sessions":
		amount, _ := strconv.ParseInt(r.PostForm.Get("line_items[0][price_data][unit_amount]"), 10, 64)
		s := &fakeSession{
			ID: f.id("cs_test"), Object: "checkout.session", ClientReferenceID: r.PostForm.Get("client_reference_id"),
			Mode: r.PostForm.Get("mode"), PaymentStatus: "unpaid", Status: "open", AmountTotal: amount,
			Currency: r.PostForm.Get("line_items[0][price_data][currency]"), Metadata: map[string]string{},
		}
		if c := r.PostForm.Get("customer"); c != "" {
			s.Customer = &c
		}
		for k, v := range r.PostForm {
			if name, ok := strings.CutPrefix(k, "metadata["); ok {
				s.Metadata[strings.TrimSuffix(name, "]")] = v[0]
			}
		}
		s.URL = "https://checkout.stripe.test/pay/" + s.ID
		f.sessions[s.ID] = s
		obj = s
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/checkout/sessions/"):
		s, ok := f.sessions[strings.TrimPrefix(path, "/v1/checkout/sessions/")]
		if !ok {
			writeError(w, http.StatusNotFound, "invalid_request_error", "No such checkout.session")
			return
		}
		out := map[string]any{}
		raw, _ := json.Marshal(s)
		_ = json.Unmarshal(raw, &out)
		if s.paymentIntent != "" {
			pi := map[string]any{"id": s.paymentIntent, "object": "payment_intent"}
			for _, c := range f.charges {
				if c.PaymentIntent == s.paymentIntent {
					pi["latest_charge"] = c
				}
			}
			out["payment_intent"] = pi
		}
		obj = out
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/charges/"):
		c, ok := f.charges[strings.TrimPrefix(path, "/v1/charges/")]
		if !ok {
			writeError(w, http.StatusNotFound, "invalid_request_error", "No such charge")
			return
		}
		obj = c
	default:
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown path "+path)
		return
	}
	body, _ := json.Marshal(obj)
	if key != "" && r.Method == http.MethodPost {
		f.idem[key] = body
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": typ, "message": msg}})
}

// Pay completes a session's payment: paid, with a payment intent and a
// card charge carrying billing details. It returns the charge id.
func (f *FakeStripe) Pay(sessionID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[sessionID]
	if s == nil {
		return ""
	}
	s.PaymentStatus, s.Status = "paid", "complete"
	if s.paymentIntent == "" {
		s.paymentIntent = f.id("pi")
		c := &fakeCharge{ID: f.id("ch"), Object: "charge", Amount: s.AmountTotal, Currency: s.Currency, PaymentIntent: s.paymentIntent}
		c.BillingDetails.Name, c.BillingDetails.Email = "Ada Lovelace", "ada@example.com"
		c.BillingDetails.Address = map[string]string{"line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}
		c.PaymentMethodDetails.Type = "card"
		c.PaymentMethodDetails.Card.Brand, c.PaymentMethodDetails.Card.Last4 = "visa", "4242"
		f.charges[c.ID] = c
	}
	for id, c := range f.charges {
		if c.PaymentIntent == s.paymentIntent {
			return id
		}
	}
	return ""
}

// Refund sets a charge's refunded amount (cumulative, as Stripe reports).
func (f *FakeStripe) Refund(chargeID string, amountRefunded int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.charges[chargeID]; c != nil {
		c.AmountRefunded = amountRefunded
	}
}

// Customers counts customers created.
func (f *FakeStripe) Customers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.customers
}
