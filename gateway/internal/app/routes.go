package app

import (
	"io"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/status"

	"github.com/connectengine/photoshoot/gateway/internal/rest"
	"github.com/connectengine/photoshoot/gateway/internal/session"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
)

// expensiveRoutes names the rate-limit buckets of a request: per client IP
// and per signed-in principal, for the routes that cost real work (mail,
// password hashing, uploads, analyses, generations, checkouts). Other
// routes are not limited here.
func expensiveRoutes(r *http.Request) []string {
	if r.Method != http.MethodPost {
		return nil
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/auth/"), p == "/v1/contact",
		p == "/v1/images", strings.HasSuffix(p, ":analyze"),
		strings.HasPrefix(p, "/v1/generations"), p == "/v1/me:export",
		p == "/v1/billing/checkout-sessions":
	default:
		return nil
	}
	keys := []string{"ip:" + session.ClientIP(r.Context())}
	if who := session.Principal(r.Context()); who != "" {
		keys = append(keys, "user:"+who)
	}
	return keys
}

// stripeWebhook hands Stripe's delivery to billing byte for byte, with its
// signature header; billing verifies and records it. Stripe retries on any
// non-2xx, so billing's answer decides: 200 when handled (or a duplicate),
// 400 for a bad signature, 5xx to be retried later.
func stripeWebhook(billing billingv1.BillingServiceClient) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "request body too large or unreadable", http.StatusBadRequest)
			return
		}
		_, err = billing.HandleStripeWebhook(session.Outgoing(r), &billingv1.HandleStripeWebhookRequest{
			Payload:   body,
			Signature: r.Header.Get("Stripe-Signature"),
		})
		if err != nil {
			st := status.Convert(err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
			buf, _ := rest.Marshaler.Marshal(st.Proto())
			_, _ = w.Write(buf)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"received":true}`))
	})
}
