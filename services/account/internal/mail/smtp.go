package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// SMTP sends through a mail relay. smtp:// upgrades with STARTTLS when the
// server offers it; smtps:// connects over TLS. The mail ID becomes the
// Message-ID, so a copy sent again after a crash is recognisably the same.
type SMTP struct {
	addr     string
	host     string
	implicit bool
	auth     smtp.Auth
	domain   string
	tls      *tls.Config
}

// NewSMTP parses smtp[s]://user:pass@host:port. tlsConfig may be nil.
func NewSMTP(rawURL string, tlsConfig *tls.Config) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" {
		return nil, fmt.Errorf("smtp url scheme %q must be smtp or smtps", u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, errors.New("smtp url has no host")
	}
	if port == "" {
		port = map[string]string{"smtp": "587", "smtps": "465"}[u.Scheme]
	}
	s := &SMTP{addr: net.JoinHostPort(host, port), host: host, implicit: u.Scheme == "smtps", domain: host, tls: tlsConfig}
	if s.tls == nil {
		s.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		// PlainAuth refuses to send credentials unencrypted except to
		// localhost, so a relay without TLS never sees the password.
		s.auth = smtp.PlainAuth("", u.User.Username(), pw, host)
	}
	return s, nil
}

// Send implements Sender.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	body, err := s.compose(m)
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	if s.implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", s.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("smtp hello: %w", err)
	}
	defer c.Close()
	if !s.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tls); err != nil {
				return fmt.Errorf("smtp starttls: %w", err)
			}
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(address(m.From)); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp end of data for mail %s: %w", m.ID, err)
	}
	return c.Quit()
}

// address extracts the bare address of "Name <addr>".
func address(from string) string {
	if i, j := strings.LastIndexByte(from, '<'), strings.LastIndexByte(from, '>'); i >= 0 && j > i {
		return from[i+1 : j]
	}
	return from
}

// compose builds a multipart/alternative RFC 5322 message.
func (s *SMTP) compose(m Message) ([]byte, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	var head bytes.Buffer
	hh := func(k, v string) { fmt.Fprintf(&head, "%s: %s\r\n", k, v) }
	hh("From", m.From)
	hh("To", m.To)
	if m.ReplyTo != "" {
		hh("Reply-To", m.ReplyTo)
	}
	hh("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hh("Date", time.Now().UTC().Format(time.RFC1123Z))
	hh("Message-ID", "<"+m.ID+"@"+s.domain+">")
	hh("MIME-Version", "1.0")
	hh("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	head.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		if part.body == "" {
			continue
		}
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("compose mail %s: %w", m.ID, err)
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(part.body)); err != nil {
			return nil, fmt.Errorf("compose mail %s: %w", m.ID, err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("compose mail %s: %w", m.ID, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose mail %s: %w", m.ID, err)
	}
	return append(head.Bytes(), b.Bytes()...), nil
}
