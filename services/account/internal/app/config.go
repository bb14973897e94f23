package app

import (
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/connectengine/photoshoot/pkg/platform"
)

// Config is the account service's configuration.
type Config struct {
	platform.Config

	// BillingAddr, MediaAddr, AnalysisAddr and GenerationAddr are the
	// services account calls for exports and admin grants (BILLING_ADDR, …).
	BillingAddr, MediaAddr, AnalysisAddr, GenerationAddr string
	// ResendAPIKey selects Resend as the mail provider (RESEND_API_KEY);
	// ResendBaseURL overrides its API address (RESEND_BASE_URL).
	ResendAPIKey, ResendBaseURL string
	// SMTPURL selects an SMTP relay, smtp[s]://user:pass@host:port
	// (SMTP_URL), when no Resend key is set.
	SMTPURL string
	// MailFrom is the sender of every mail (MAIL_FROM).
	MailFrom string
	// SupportEmail receives contact-form messages (SUPPORT_EMAIL).
	SupportEmail string
	// MailDir is the dev mailbox (MAIL_DIR, default .data/mail), used in
	// dev mode when no provider is configured.
	MailDir string
	// AdminEmails are the users with the admin role (ADMIN_EMAILS, comma
	// separated).
	AdminEmails []string
	// HashConcurrency caps concurrent password hashes, 19 MiB each
	// (PASSWORD_HASH_CONCURRENCY, default 4).
	HashConcurrency int

	// Set in code only: the clock (tests move it), time.Now when nil; and
	// the pause between export-expiry passes (1 h when zero).
	Now              func() time.Time
	ExportSweepEvery time.Duration
}

// LoadConfig reads the configuration from the environment. Every error
// names the variable to fix.
func LoadConfig(getenv func(string) string) (Config, error) {
	// Account verifies access tokens with its own key store, so the
	// shared ACCOUNT_ADDR (where other services find account) is not
	// needed here.
	pc, err := platform.LoadConfig("account", func(k string) string {
		if v := getenv(k); v != "" || k != "ACCOUNT_ADDR" {
			return v
		}
		return "self"
	})
	errs := []error{err}
	c := Config{
		Config:          pc,
		BillingAddr:     getenv("BILLING_ADDR"),
		MediaAddr:       getenv("MEDIA_ADDR"),
		AnalysisAddr:    getenv("ANALYSIS_ADDR"),
		GenerationAddr:  getenv("GENERATION_ADDR"),
		ResendAPIKey:    getenv("RESEND_API_KEY"),
		ResendBaseURL:   getenv("RESEND_BASE_URL"),
		SMTPURL:         getenv("SMTP_URL"),
		MailFrom:        getenv("MAIL_FROM"),
		SupportEmail:    getenv("SUPPORT_EMAIL"),
		MailDir:         getenv("MAIL_DIR"),
		HashConcurrency: 4,
	}
	for name, v := range map[string]string{"BILLING_ADDR": c.BillingAddr, "MEDIA_ADDR": c.MediaAddr,
		"ANALYSIS_ADDR": c.AnalysisAddr, "GENERATION_ADDR": c.GenerationAddr} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	if c.MailDir == "" {
		c.MailDir = ".data/mail"
	}
	if !c.DevMode && c.ResendAPIKey == "" && c.SMTPURL == "" {
		errs = append(errs, errors.New("RESEND_API_KEY or SMTP_URL is required outside DEV_MODE (the dev mailbox is for development only)"))
	}
	if c.MailFrom == "" && c.DevMode {
		c.MailFrom = "Photoshoot Studio <studio@localhost>"
	}
	if c.SupportEmail == "" && c.DevMode {
		c.SupportEmail = "support@localhost"
	}
	if a, err := mail.ParseAddress(c.MailFrom); err != nil || a.Address == "" {
		errs = append(errs, fmt.Errorf("MAIL_FROM %q must be an address such as \"Photoshoot Studio <studio@example.com>\"", c.MailFrom))
	}
	if a, err := mail.ParseAddress(c.SupportEmail); err != nil || a.Address == "" {
		errs = append(errs, fmt.Errorf("SUPPORT_EMAIL %q must be an email address", c.SupportEmail))
	}
	for _, e := range strings.Split(getenv("ADMIN_EMAILS"), ",") {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			c.AdminEmails = append(c.AdminEmails, e)
		}
	}
	if v := getenv("PASSWORD_HASH_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			errs = append(errs, fmt.Errorf("PASSWORD_HASH_CONCURRENCY %q must be 1 to 64", v))
		}
		c.HashConcurrency = n
	}
	return c, errors.Join(errs...)
}
