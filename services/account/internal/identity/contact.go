package identity

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// Contact-form size limits.
const (
	maxContactName    = 100
	maxContactMessage = 5000
)

// ContactRequest is a contact-form submission.
type ContactRequest struct {
	Name, Email, Message string
	// Website is the honeypot: humans never see the field.
	Website string
	// UserID is the signed-in sender, if any.
	UserID string
}

// Contact mails a message to support with a copy to the sender. A filled
// honeypot is accepted silently and nothing is stored or sent, so bots learn
// nothing. Submissions are limited per IP and per sender address.
func (s *Service) Contact(ctx context.Context, r ContactRequest, c Client) error {
	if r.Website != "" {
		return nil
	}
	var vs []apperr.Violation
	email, err := NormalizeEmail("email", r.Email)
	if err != nil {
		vs = append(vs, apperr.Violation{Field: "email", Description: "must be an email address"})
	}
	name := strings.TrimSpace(r.Name)
	if name == "" || utf8.RuneCountInString(name) > maxContactName || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		vs = append(vs, apperr.Violation{Field: "name", Description: fmt.Sprintf("required, at most %d printable characters", maxContactName)})
	}
	msg := strings.TrimSpace(r.Message)
	if msg == "" || utf8.RuneCountInString(msg) > maxContactMessage || !utf8.ValidString(msg) {
		vs = append(vs, apperr.Violation{Field: "message", Description: fmt.Sprintf("required, at most %d characters", maxContactMessage)})
	}
	if len(vs) > 0 {
		return apperr.Invalid("invalid contact message", vs...)
	}
	m := ContactMessage{ID: NewID(), UserID: r.UserID, Name: name, Email: email, Message: msg, CreateTime: s.now()}
	data := map[string]string{"name": name, "email": email, "message": msg, "message_id": m.ID}
	mails := []Mail{
		{ID: NewID(), Template: TemplateContactMessage, To: s.cfg.SupportEmail, Data: data},
		{ID: NewID(), Template: TemplateContactCopy, To: email, Data: data},
	}
	limits := []Limit{
		{Bucket: ipBucket("contact", c.IP), Max: s.cfg.ContactPerIP, Window: s.cfg.RateWindow},
		{Bucket: emailBucket("contact", email), Max: s.cfg.ContactPerIP, Window: s.cfg.RateWindow},
	}
	if err := s.store.CreateContactMessage(ctx, m, limits, mails); err != nil {
		return fmt.Errorf("contact message: %w", err)
	}
	return nil
}
