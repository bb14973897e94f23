package app

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/services/billing/internal/checkout"
)

// Config is the billing service's configuration.
type Config struct {
	platform.Config
	// StripeSecretKey switches payments to Stripe (STRIPE_SECRET_KEY).
	// Without it the service runs in test mode, which only DEV_MODE allows.
	StripeSecretKey string
	// StripeWebhookSecret verifies Stripe-Signature (STRIPE_WEBHOOK_SECRET);
	// required with a Stripe key.
	StripeWebhookSecret string
	// StripeAPIBase replaces https://api.stripe.com (STRIPE_API_BASE), for
	// stripe-mock and tests.
	StripeAPIBase string
	// TrialCredits are granted once per new user (TRIAL_CREDITS, default 5;
	// 0 grants none).
	TrialCredits int64
	// Packs are on sale (BILLING_PACKS, "id:Name:credits:price:currency,…").
	Packs []checkout.Pack
	// HoldTTL is the default and maximum life of a hold (HOLD_TTL, 1h).
	HoldTTL time.Duration
	// ReapInterval is how often expired holds are released
	// (HOLD_REAP_INTERVAL, 30s).
	ReapInterval time.Duration
}

// TestMode reports whether payments run without Stripe.
func (c Config) TestMode() bool { return c.StripeSecretKey == "" }

// LoadConfig reads the configuration from the environment. Every error
// names the variable to fix.
func LoadConfig(getenv func(string) string) (Config, error) {
	pc, err := platform.LoadConfig("billing", getenv)
	errs := []error{err}
	c := Config{
		Config:              pc,
		StripeSecretKey:     getenv("STRIPE_SECRET_KEY"),
		StripeWebhookSecret: getenv("STRIPE_WEBHOOK_SECRET"),
		StripeAPIBase:       getenv("STRIPE_API_BASE"),
		TrialCredits:        5,
		Packs:               checkout.DefaultPacks(),
		HoldTTL:             time.Hour,
		ReapInterval:        30 * time.Second,
	}
	switch {
	case c.StripeSecretKey == "" && !c.DevMode:
		errs = append(errs, errors.New("STRIPE_SECRET_KEY is required unless DEV_MODE is on (test-mode payments)"))
	case c.StripeSecretKey != "" && c.StripeWebhookSecret == "":
		errs = append(errs, errors.New("STRIPE_WEBHOOK_SECRET is required with STRIPE_SECRET_KEY"))
	case c.StripeSecretKey == "" && c.StripeWebhookSecret != "":
		errs = append(errs, errors.New("STRIPE_WEBHOOK_SECRET is set without STRIPE_SECRET_KEY"))
	}
	if v := getenv("TRIAL_CREDITS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("TRIAL_CREDITS %q must be a non-negative integer", v))
		}
		c.TrialCredits = n
	}
	if v := getenv("BILLING_PACKS"); v != "" {
		packs, err := checkout.ParsePacks(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BILLING_PACKS: %w", err))
		}
		c.Packs = packs
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"HOLD_TTL", &c.HoldTTL}, {"HOLD_REAP_INTERVAL", &c.ReapInterval}} {
		if v := getenv(d.name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				errs = append(errs, fmt.Errorf("%s %q must be a positive duration", d.name, v))
			}
			*d.dst = x
		}
	}
	return c, errors.Join(errs...)
}
