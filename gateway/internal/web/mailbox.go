package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

// mailboxMail is one mail as the mailbox page shows it.
type mailboxMail struct {
	To, Subject, Body string
	Sent              time.Time
	Links             []mailboxLink
}

type mailboxLink struct {
	URL string
	// SignIn marks the app's own sign-in links, shown as the main action.
	SignIn bool
}

type mailboxData struct {
	Mails []mailboxMail
	Error string
}

// mailbox lists the dev mailbox, newest first, with its links clickable:
// the way a newcomer signs in on a machine that sends no mail. Outside dev
// mode the page does not exist.
func (h *handler) mailbox(w http.ResponseWriter, r *http.Request) {
	if !h.opt.DevMode {
		h.notFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var data mailboxData
	resp, err := h.opt.Account.ListDevMail(ctx, &accountv1.ListDevMailRequest{PageSize: 50})
	if err != nil {
		h.opt.Logger.WarnContext(ctx, "list dev mail", "error", err)
		data.Error = "The mailbox could not be read. Is the account service running?"
	}
	for _, m := range resp.GetMails() {
		mm := mailboxMail{To: m.GetTo(), Subject: m.GetSubject(), Body: m.GetTextBody(), Sent: m.GetCreateTime().AsTime()}
		for _, l := range m.GetLinks() {
			mm.Links = append(mm.Links, mailboxLink{URL: l, SignIn: strings.Contains(l, "/auth/confirm")})
		}
		data.Mails = append(data.Mails, mm)
	}
	h.render(w, r, http.StatusOK, page{name: "mailbox", title: "Dev mailbox"}, data)
}
