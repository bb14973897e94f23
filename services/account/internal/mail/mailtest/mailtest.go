// Package mailtest holds the mail port's contract suite and two local
// servers that speak the providers' protocols, for the production senders to
// be tested against: a Resend API server (POST /emails with idempotency
// keys) and an SMTP server (github.com/emersion/go-smtp).
package mailtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	pmail "github.com/connectengine/photoshoot/services/account/internal/mail"
)

// ResendServer is a local server speaking the shape of Resend's
// POST /emails: bearer auth, JSON body, Idempotency-Key. A repeated key is
// answered with the first response and not delivered again, as Resend does.
type ResendServer struct {
	URL    string
	APIKey string

	mu        sync.Mutex
	delivered []pmail.Message
	byKey     map[string]string
	requests  int
	// dropNext makes the next request deliver and then cut the
	// connection before answering: the sender cannot know the mail left.
	dropNext int
}

// NewResendServer starts a server that closes when the test ends.
func NewResendServer(t testing.TB) *ResendServer {
	t.Helper()
	s := &ResendServer{APIKey: "re_test_key", byKey: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *ResendServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/emails" {
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.APIKey {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"statusCode":401,"name":"validation_error","message":"API key is invalid"}`)
		return
	}
	var body struct {
		From    string   `json:"from"`
		To      []string `json:"to"`
		Subject string   `json:"subject"`
		HTML    string   `json:"html"`
		Text    string   `json:"text"`
		ReplyTo string   `json:"reply_to"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.From == "" || len(body.To) == 0 || body.Subject == "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, `{"statusCode":422,"name":"validation_error","message":"missing fields"}`)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	s.requests++
	id, seen := s.byKey[key]
	if !seen || key == "" {
		id = "re_" + key
		if key != "" {
			s.byKey[key] = id
		}
		s.delivered = append(s.delivered, pmail.Message{ID: key, From: body.From, To: strings.Join(body.To, ","),
			ReplyTo: body.ReplyTo, Subject: body.Subject, Text: body.Text, HTML: body.HTML})
	}
	drop := s.dropNext > 0
	if drop {
		s.dropNext--
	}
	s.mu.Unlock()
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
}

// DropNext makes the next n requests deliver the mail and then cut the
// connection without answering, which a sender sees as a failed call.
func (s *ResendServer) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext += n
}

// Delivered lists the mails delivered, once per idempotency key.
func (s *ResendServer) Delivered() []pmail.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmail.Message(nil), s.delivered...)
}

// Requests counts every POST /emails, repeats included.
func (s *ResendServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// SMTPServer is an in-process SMTP server that requires PLAIN auth with
// User and Password and keeps what it receives.
type SMTPServer struct {
	Addr, User, Password string

	mu        sync.Mutex
	delivered []pmail.Message
}

// NewSMTPServer starts a server on 127.0.0.1 that closes when the test ends.
func NewSMTPServer(t testing.TB) *SMTPServer {
	t.Helper()
	s := &SMTPServer{User: "mailer", Password: "p@ss word"}
	srv := smtp.NewServer(smtpBackend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // plain TCP on loopback, as net/smtp allows
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = lis.Addr().String()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// URL is the SMTP_URL for this server.
func (s *SMTPServer) URL() string {
	return "smtp://" + s.User + ":" + strings.ReplaceAll(s.Password, " ", "%20") + "@" + s.Addr
}

// Delivered lists the mails received, parsed back into Messages (the ID
// from the Message-ID header).
func (s *SMTPServer) Delivered() []pmail.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmail.Message(nil), s.delivered...)
}

type smtpBackend struct{ s *SMTPServer }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: b.s}, nil }

type smtpSession struct {
	s      *SMTPServer
	authed bool
	to     []string
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.User || pass != ss.s.Password {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !ss.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	m, err := parseMIME(r)
	if err != nil {
		return err
	}
	m.To = strings.Join(ss.to, ",")
	ss.s.mu.Lock()
	ss.s.delivered = append(ss.s.delivered, m)
	ss.s.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.to = nil }
func (ss *smtpSession) Logout() error { return nil }

func parseMIME(r io.Reader) (pmail.Message, error) {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return pmail.Message{}, err
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return pmail.Message{}, err
	}
	id := strings.Trim(msg.Header.Get("Message-ID"), "<>")
	id, _, _ = strings.Cut(id, "@")
	out := pmail.Message{ID: id, From: msg.Header.Get("From"), ReplyTo: msg.Header.Get("Reply-To"), Subject: subject}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return pmail.Message{}, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return pmail.Message{}, err
		}
		var body io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(p)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(body); err != nil {
			return pmail.Message{}, err
		}
		switch typ, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); typ {
		case "text/plain":
			out.Text = b.String()
		case "text/html":
			out.HTML = b.String()
		}
	}
	return out, nil
}

// Harness is one implementation under the suite: its sender and a way to
// read what it delivered.
type Harness struct {
	Sender    pmail.Sender
	Delivered func() []pmail.Message
}

// RunSuite checks the contract every Sender keeps: a mail arrives with its
// fields intact (non-ASCII included) and carries its ID where the receiving
// side can see it; distinct mails arrive separately; a cancelled context
// fails the send.
func RunSuite(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("delivers_fields_and_id", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		m := pmail.Message{
			ID: "0190c0de-0000-7000-8000-000000000001", From: "Photoshoot Studio <studio@example.com>",
			To: "seller@example.com", ReplyTo: "support@example.com",
			Subject: "Prêt à shooter — ✓", Text: "Hello\nhttps://example.com/auth/confirm#token=abc\n",
			HTML: `<p>Hello <a href="https://example.com/x">link</a></p>`,
		}
		if err := h.Sender.Send(t.Context(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := h.Delivered()
		if len(got) != 1 {
			t.Fatalf("delivered %d mails, want 1", len(got))
		}
		g := got[0]
		if g.ID != m.ID || g.To != m.To || g.Subject != m.Subject || g.ReplyTo != m.ReplyTo {
			t.Errorf("delivered %+v, want id/to/subject/reply-to of %+v", g, m)
		}
		if norm(g.Text) != norm(m.Text) || norm(g.HTML) != norm(m.HTML) {
			t.Errorf("bodies changed: text %q html %q", g.Text, g.HTML)
		}
		if !strings.Contains(g.From, "studio@example.com") {
			t.Errorf("from = %q", g.From)
		}
	})
	t.Run("distinct_mails_arrive_separately", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		for _, id := range []string{"0190c0de-0000-7000-8000-00000000000a", "0190c0de-0000-7000-8000-00000000000b"} {
			if err := h.Sender.Send(t.Context(), pmail.Message{ID: id, From: "a@example.com", To: "b@example.com", Subject: "s", Text: "t", HTML: "<p>t</p>"}); err != nil {
				t.Fatalf("Send %s: %v", id, err)
			}
		}
		if got := len(h.Delivered()); got != 2 {
			t.Errorf("delivered %d, want 2", got)
		}
	})
	t.Run("cancelled_context_fails", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := h.Sender.Send(ctx, pmail.Message{ID: "0190c0de-0000-7000-8000-00000000000c", From: "a@example.com", To: "b@example.com", Subject: "s", Text: "t"})
		if err == nil {
			t.Error("Send with a cancelled context succeeded")
		}
	})
}

// norm ignores line-ending differences that SMTP introduces.
func norm(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}
