// Package mail is the account service's mail port and its three
// implementations: Resend (production), SMTP (self-hosted), and the dev
// mailbox (files on disk, listed at /dev/mailbox). It also renders the
// service's templates, in plain text and HTML.
//
// Mails reach Send from the outbox consumer, which may call it again for the
// same mail after a crash. Each implementation carries the mail ID where the
// receiving side can use it: Resend's Idempotency-Key (the provider drops the
// repeat), the SMTP Message-ID, the dev mailbox's file name (a repeat
// overwrites the same file).
package mail

import (
	"context"
	"regexp"
)

// Message is one rendered mail.
type Message struct {
	// ID is unique per mail and stable across retries.
	ID      string
	From    string
	To      string
	ReplyTo string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers mails. Implementations must be safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+`)

// Links returns the http(s) links in a plain-text body, in order.
func Links(text string) []string {
	return linkPattern.FindAllString(text, -1)
}
