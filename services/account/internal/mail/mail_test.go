package mail_test

import (
	"strings"
	"testing"

	"github.com/connectengine/photoshoot/services/account/internal/identity"
	"github.com/connectengine/photoshoot/services/account/internal/mail"
	"github.com/connectengine/photoshoot/services/account/internal/mail/mailtest"
)

func TestResend(t *testing.T) {
	t.Parallel()
	mailtest.RunSuite(t, func(t *testing.T) mailtest.Harness {
		srv := mailtest.NewResendServer(t)
		s, err := mail.NewResend(srv.APIKey, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		return mailtest.Harness{Sender: s, Delivered: srv.Delivered}
	})
}

func TestSMTP(t *testing.T) {
	t.Parallel()
	mailtest.RunSuite(t, func(t *testing.T) mailtest.Harness {
		srv := mailtest.NewSMTPServer(t)
		s, err := mail.NewSMTP(srv.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return mailtest.Harness{Sender: s, Delivered: srv.Delivered}
	})
}

func TestMailbox(t *testing.T) {
	t.Parallel()
	mailtest.RunSuite(t, func(t *testing.T) mailtest.Harness {
		b, err := mail.NewMailbox(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return mailtest.Harness{Sender: b, Delivered: func() []mail.Message {
			stored, err := b.List(100)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]mail.Message, len(stored))
			for i, s := range stored {
				out[i] = s.Message
			}
			return out
		}}
	})
}

func TestResend_repeatedIDDeliveredOnce(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewResendServer(t)
	s, err := mail.NewResend(srv.APIKey, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := mail.Message{ID: "0190c0de-0000-7000-8000-0000000000aa", From: "a@example.com", To: "b@example.com", Subject: "s", Text: "t"}
	for range 3 {
		if err := s.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if got, reqs := len(srv.Delivered()), srv.Requests(); got != 1 || reqs != 3 {
		t.Errorf("delivered %d of %d requests, want 1 of 3", got, reqs)
	}
}

func TestResend_wrongKeyFails(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewResendServer(t)
	s, err := mail.NewResend("re_wrong", srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), mail.Message{ID: "x", From: "a@example.com", To: "b@example.com", Subject: "s", Text: "t"}); err == nil {
		t.Error("send with a wrong API key succeeded")
	}
}

func TestMailbox_repeatedIDStoredOnce(t *testing.T) {
	t.Parallel()
	b, err := mail.NewMailbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := mail.Message{ID: "0190c0de-0000-7000-8000-0000000000bb", From: "a@example.com", To: "b@example.com", Subject: "s", Text: "t"}
	for range 2 {
		if err := b.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := b.List(10); len(got) != 1 {
		t.Errorf("stored %d mails, want 1", len(got))
	}
	if err := b.Send(t.Context(), mail.Message{ID: "../escape"}); err == nil {
		t.Error("mailbox accepted a path as mail id")
	}
}

func TestNewSMTP_url(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://h:25", "smtp://", "::bad"} {
		if _, err := mail.NewSMTP(u, nil); err == nil {
			t.Errorf("NewSMTP(%q) accepted", u)
		}
	}
	for _, u := range []string{"smtp://user:pass@mail.example.com:587", "smtps://mail.example.com", "smtp://localhost:2525"} {
		if _, err := mail.NewSMTP(u, nil); err != nil {
			t.Errorf("NewSMTP(%q): %v", u, err)
		}
	}
}

func TestRenderer_everyTemplate(t *testing.T) {
	t.Parallel()
	r, err := mail.NewRenderer("Photoshoot Studio <studio@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{
		"link": "https://studio.example.com/auth/confirm#token=abc", "expire_minutes": "10",
		"app_url": "https://studio.example.com/", "download_url": "https://studio.example.com/v1/images/1/content",
		"size": "1.2 MB", "name": "Ann <script>", "email": "ann@example.com", "message": "Hi <b>there</b>", "message_id": "m1",
	}
	for _, name := range []string{identity.TemplateSignInLink, identity.TemplateWelcome, identity.TemplateExportReady,
		identity.TemplateAccountDeleted, identity.TemplateContactMessage, identity.TemplateContactCopy} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, err := r.Render(name, data)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject == "" || m.Text == "" || m.HTML == "" || m.From == "" {
				t.Errorf("incomplete mail %+v", m)
			}
			if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>there") {
				t.Errorf("html not escaped: %s", m.HTML)
			}
		})
	}
	m, err := r.Render(identity.TemplateSignInLink, data)
	if err != nil {
		t.Fatal(err)
	}
	if links := mail.Links(m.Text); len(links) != 1 || links[0] != data["link"] {
		t.Errorf("links in sign-in mail = %q", links)
	}
	if _, err := r.Render("no_such_template", data); err == nil {
		t.Error("unknown template rendered")
	}
	if _, err := r.Render(identity.TemplateSignInLink, map[string]string{}); err == nil {
		t.Error("template rendered with missing data")
	}
}
