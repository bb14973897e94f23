package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/gateway/internal/web"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

// mailbox answers ListDevMail from a fixed list (or an error); the
// embedded interface is nil, so any other call fails the test loudly.
type mailbox struct {
	accountv1.AccountServiceClient
	mails []*accountv1.DevMail
	err   error
}

func (m mailbox) ListDevMail(context.Context, *accountv1.ListDevMailRequest, ...grpc.CallOption) (*accountv1.ListDevMailResponse, error) {
	if m.err != nil {
		return nil, m.err
	}
	return &accountv1.ListDevMailResponse{Mails: m.mails}, nil
}

func newServer(t *testing.T, opt web.Options) *httptest.Server {
	t.Helper()
	if opt.DevMode && opt.Account == nil {
		opt.Account = mailbox{}
	}
	h, err := web.NewHandler(opt)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

var pagePaths = []string{
	"/", "/sign-in", "/check-email", "/auth/confirm", "/studio", "/gallery", "/credits",
	"/checkout/test/pur_123", "/settings", "/contact", "/privacy", "/terms", "/docs/api",
}

var (
	inlineScript  = regexp.MustCompile(`<script(?:\s[^>]*)?>`)
	styleAttr     = regexp.MustCompile(`\sstyle\s*=`)
	handlerAttr   = regexp.MustCompile(`\son[a-z]+\s*=`)
	staticRef     = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)
	externalAsset = regexp.MustCompile(`(?:href|src)="https?://`)
)

// TestPagesObeyTheContentSecurityPolicy renders every page and checks what
// the gateway's strict CSP would break: scripts only from files, no inline
// event handlers, no style attributes, nothing loaded from another origin,
// and every referenced asset served.
func TestPagesObeyTheContentSecurityPolicy(t *testing.T) {
	t.Parallel()
	srv := newServer(t, web.Options{DevMode: true, PublicURL: "http://localhost:8080"})
	for _, p := range pagePaths {
		t.Run(strings.Trim(strings.ReplaceAll(p, "/", "_"), "_"), func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, srv.URL+p, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200", p, resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", ct)
			}
			for _, tag := range inlineScript.FindAllString(body, -1) {
				if !strings.Contains(tag, `src="`) {
					t.Errorf("inline script %s", tag)
				}
			}
			if m := styleAttr.FindString(body); m != "" {
				t.Errorf("style attribute in page")
			}
			if m := handlerAttr.FindString(body); m != "" {
				t.Errorf("inline event handler %q in page", m)
			}
			if m := externalAsset.FindString(body); m != "" {
				t.Errorf("asset from another origin: %s", m)
			}
			if !strings.Contains(body, `<main id="main"`) || !strings.Contains(body, `<html lang="en">`) {
				t.Error("page lacks the layout's landmarks")
			}
			for _, m := range staticRef.FindAllStringSubmatch(body, -1) {
				if r, _ := get(t, srv.URL+strings.ReplaceAll(m[1], "&amp;", "&"), nil); r.StatusCode != http.StatusOK {
					t.Errorf("GET %s = %d, want 200", m[1], r.StatusCode)
				}
			}
		})
	}
}

// TestEveryPageHasItsModule checks that each page module app.js imports
// (by the body's data-page, from its PAGES list) exists, and that every page
// with a script is served.
func TestEveryPageHasItsModule(t *testing.T) {
	t.Parallel()
	srv := newServer(t, web.Options{})
	_, app := get(t, srv.URL+"/static/js/app.js", nil)
	list := regexp.MustCompile(`(?s)const PAGES = new Set\(\[(.*?)\]\)`).FindStringSubmatch(app)
	if list == nil {
		t.Fatal("app.js has no PAGES list")
	}
	names := regexp.MustCompile(`'([a-z-]+)'`).FindAllStringSubmatch(list[1], -1)
	scripted := map[string]bool{}
	for _, m := range names {
		scripted[m[1]] = true
		if r, _ := get(t, srv.URL+"/static/js/pages/"+m[1]+".js", nil); r.StatusCode != http.StatusOK {
			t.Errorf("module pages/%s.js = %d, want 200", m[1], r.StatusCode)
		}
	}
	page := regexp.MustCompile(`data-page="([a-z-]+)"`)
	for _, p := range pagePaths {
		_, body := get(t, srv.URL+p, nil)
		m := page.FindStringSubmatch(body)
		if m == nil {
			t.Errorf("%s has no data-page", p)
		} else if !scripted[m[1]] && m[1] != "privacy" && m[1] != "terms" {
			t.Errorf("%s (data-page %q) is not in app.js's PAGES", p, m[1])
		}
	}
}

func TestUnknownPathsAreNotFound(t *testing.T) {
	t.Parallel()
	srv := newServer(t, web.Options{})
	for _, p := range []string{"/nope", "/static/js/missing.js", "/studio/extra", "/dev/mailbox"} {
		resp, body := get(t, srv.URL+p, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
		if !strings.Contains(body, "We could not find that page") {
			t.Errorf("GET %s: not the app's 404 page", p)
		}
	}
}

func TestStaticAssetsRevalidate(t *testing.T) {
	t.Parallel()
	srv := newServer(t, web.Options{})
	resp, _ := get(t, srv.URL+"/static/js/app.js", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET app.js = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("app.js Content-Type = %q, want text/javascript (module scripts need a JavaScript type)", ct)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again, _ := get(t, srv.URL+"/static/js/app.js", http.Header{"If-None-Match": {etag}})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET = %d, want 304", again.StatusCode)
	}
	versioned, _ := get(t, srv.URL+"/static/js/app.js?v=x", nil)
	if cc := versioned.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("versioned asset Cache-Control = %q, want immutable", cc)
	}
}

// TestAnalyticsOnlyWhenConfigured: with no ids the pages carry no tag ids,
// no cookie banner, and the CSP needs no extra hosts; with ids, the ids
// travel in meta tags for consent.js (which loads nothing before consent).
func TestAnalyticsOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	plain := newServer(t, web.Options{})
	_, body := get(t, plain.URL+"/", nil)
	for _, s := range []string{"ps-ga-id", "ps-gtm-id", "data-cookie-banner", "googletagmanager"} {
		if strings.Contains(body, s) {
			t.Errorf("unconfigured page contains %q", s)
		}
	}
	if hosts := web.ScriptHosts(web.Options{}); len(hosts) != 0 {
		t.Errorf("ScriptHosts without analytics = %v, want none", hosts)
	}

	opt := web.Options{GAMeasurementID: "G-TEST1234", GTMID: "GTM-TEST12"}
	tagged := newServer(t, opt)
	_, body = get(t, tagged.URL+"/", nil)
	for _, s := range []string{`<meta name="ps-ga-id" content="G-TEST1234">`, `<meta name="ps-gtm-id" content="GTM-TEST12">`, "data-cookie-banner"} {
		if !strings.Contains(body, s) {
			t.Errorf("configured page lacks %q", s)
		}
	}
	if strings.Contains(body, "googletagmanager.com") {
		t.Error("the page itself references the tag host; only consent.js may load it, after consent")
	}
	if hosts := web.ScriptHosts(opt); !slices.Contains(hosts, "https://www.googletagmanager.com") {
		t.Errorf("ScriptHosts = %v, want the tag host", hosts)
	}
}

func TestNewHandlerValidatesOptions(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]web.Options{
		"bad_ga_id":              {GAMeasurementID: "UA-123"},
		"bad_gtm_id":             {GTMID: "G-123"},
		"dev_mode_without_mail":  {DevMode: true},
		"script_injection_in_id": {GAMeasurementID: `G-1"><script>`},
	} {
		if _, err := web.NewHandler(opt); err == nil {
			t.Errorf("%s: NewHandler accepted %+v", name, opt)
		}
	}
}

func TestDevMailbox(t *testing.T) {
	t.Parallel()
	link := "http://localhost:8080/auth/confirm#token=abc123"
	srv := newServer(t, web.Options{DevMode: true, Account: mailbox{mails: []*accountv1.DevMail{
		{Id: "2", To: "new@example.com", Subject: "Your sign-in link", TextBody: "Sign in: " + link, Links: []string{link},
			CreateTime: timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))},
		{Id: "1", To: "old@example.com", Subject: "Older <b>mail</b>", TextBody: "hi"},
	}}})
	resp, body := get(t, srv.URL+"/dev/mailbox", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /dev/mailbox = %d, want 200", resp.StatusCode)
	}
	if !strings.Contains(body, `href="http://localhost:8080/auth/confirm#token=abc123"`) {
		t.Error("the sign-in link is not clickable")
	}
	if strings.Index(body, "new@example.com") > strings.Index(body, "old@example.com") {
		t.Error("mails are not listed in the order given (newest first)")
	}
	if strings.Contains(body, "<b>mail</b>") {
		t.Error("a mail's subject was not escaped")
	}
	if resp.Header.Get("X-Robots-Tag") != "noindex" {
		t.Error("the mailbox may be indexed")
	}

	broken := newServer(t, web.Options{DevMode: true, Account: mailbox{err: status.Error(codes.Unavailable, "down")}})
	resp, body = get(t, broken.URL+"/dev/mailbox", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alert-error") {
		t.Errorf("mailbox with account down = %d without an error box", resp.StatusCode)
	}

	off := newServer(t, web.Options{Account: mailbox{}})
	if resp, _ := get(t, off.URL+"/dev/mailbox", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /dev/mailbox outside dev mode = %d, want 404", resp.StatusCode)
	}
}
