package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/connectengine/photoshoot/gateway/e2e/suite"
)

// analyticsHosts are where Google's tags load from and report to.
var analyticsHosts = []string{"googletagmanager.com", "google-analytics.com", "analytics.google.com", "doubleclick.net"}

func isAnalytics(u string) bool {
	h := hostOf(u)
	for _, a := range analyticsHosts {
		if h == a || strings.HasSuffix(h, "."+a) {
			return true
		}
	}
	return false
}

// netlog records every request the tab makes and every request that
// failed, from the DevTools network events.
type netlog struct {
	mu      sync.Mutex
	urls    []string
	blocked map[string]string // url → blocked reason
	ids     map[network.RequestID]string
}

func recordNetwork(t *testing.T, ctx context.Context) *netlog {
	t.Helper()
	lctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	l := &netlog{blocked: map[string]string{}, ids: map[network.RequestID]string{}}
	sent := chromedp.Events(lctx, network.RequestWillBeSent)
	failed := chromedp.Events(lctx, network.LoadingFailed)
	go func() {
		for ev, err := range sent {
			if err != nil {
				return
			}
			l.mu.Lock()
			l.urls = append(l.urls, ev.Request.URL)
			l.ids[ev.RequestID] = ev.Request.URL
			l.mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range failed {
			if err != nil {
				return
			}
			l.mu.Lock()
			if ev.BlockedReason != "" {
				l.blocked[l.ids[ev.RequestID]] = string(ev.BlockedReason)
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *netlog) analytics() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, u := range l.urls {
		if isAnalytics(u) {
			out = append(out, u)
		}
	}
	return out
}

func (l *netlog) blockedReason(u string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.blocked[u]
}

// TestNoAnalyticsWithoutConfiguration: the suite's gateway has no
// analytics ids, so no banner is shown and no page ever asks Google for
// anything.
func TestNoAnalyticsWithoutConfiguration(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, time.Minute)
	log := recordNetwork(t, ctx)
	for _, p := range []string{"/", "/sign-in", "/privacy"} {
		do(t, ctx, "open "+p, chromedp.Navigate(env.base+p))
		waitFor(t, ctx, "the app script on "+p, `document.readyState === 'complete' && document.querySelector('[data-auth="out"]')`, 10*time.Second)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('[data-cookie-banner]').length`); n != 0 {
		t.Errorf("cookie banner shown with no analytics configured")
	}
	if got := log.analytics(); len(got) > 0 {
		t.Errorf("requests to analytics hosts with analytics unconfigured: %v", got)
	}
}

// TestCookieBanner runs a second gateway with GA_MEASUREMENT_ID set (in
// front of the same services). Before consent no request goes to any
// analytics host; "Essential only" keeps it that way across pages; "Allow
// analytics" makes the browser request Google's tag (which fails here, with
// no network, but the request is what is checked) without the CSP blocking
// it.
func TestCookieBanner(t *testing.T) {
	t.Parallel()
	base := startTaggedGateway(t, "G-E2ETEST1")
	ctx := newTab(t, 2*time.Minute)
	log := recordNetwork(t, ctx)

	do(t, ctx, "open the landing page", chromedp.Navigate(base+"/"))
	waitFor(t, ctx, "the cookie banner (is GA_MEASUREMENT_ID passed to web.Options?)", `!document.querySelector('[data-cookie-banner]').hidden`, 15*time.Second)
	// consent.js has run (it showed the banner) and is the only code that
	// loads tags, so this is the whole pre-consent window.
	if got := log.analytics(); len(got) > 0 {
		t.Fatalf("requests to analytics hosts before consent: %v", got)
	}
	do(t, ctx, "choose essential only", chromedp.Click(chromedp.CSS(`[data-consent="essential"]`)))
	do(t, ctx, "open another page", chromedp.Navigate(base+"/privacy"))
	waitFor(t, ctx, "the page to load", `document.readyState === 'complete' && document.querySelector('[data-cookie-banner]')`, 10*time.Second)
	if hidden := eval[bool](t, ctx, `document.querySelector('[data-cookie-banner]').hidden`); !hidden {
		t.Error("the banner is shown again after a choice was made")
	}
	if got := log.analytics(); len(got) > 0 {
		t.Fatalf("requests to analytics hosts after choosing essential only: %v", got)
	}

	do(t, ctx, "reopen cookie settings and allow analytics",
		chromedp.Click(chromedp.CSS("[data-cookie-settings]")),
		chromedp.WaitVisible(chromedp.CSS(`[data-consent="analytics"]`)),
		chromedp.Click(chromedp.CSS(`[data-consent="analytics"]`)),
	)
	tag := "https://www.googletagmanager.com/gtag/js?id=G-E2ETEST1"
	deadline := time.Now().Add(10 * time.Second)
	for !containsString(log.analytics(), tag) {
		if time.Now().After(deadline) {
			t.Fatalf("the browser did not request %s after consent; analytics requests: %v", tag, log.analytics())
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if reason := log.blockedReason(tag); reason != "" {
		t.Errorf("the tag request was blocked (%s): the CSP must allow web.ScriptHosts", reason)
	}
	if n := eval[int](t, ctx, `(window.dataLayer || []).length`); n == 0 {
		t.Error("gtag was not configured (dataLayer is empty)")
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// startTaggedGateway starts another gateway process, configured with a GA
// measurement id, in front of the suite's services.
func startTaggedGateway(t *testing.T, gaID string) string {
	t.Helper()
	secrets, err := env.suite.Secrets()
	if err != nil {
		t.Fatal(err)
	}
	port, err := suite.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + strconv.Itoa(port)
	cmd := exec.Command(filepath.Join(env.bin, "gateway"))
	cmd.Env = append(suite.Environ("GA_MEASUREMENT_ID", "GTM_ID", "HTTP_ADDR", "PUBLIC_URL"),
		"HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"PUBLIC_URL="+base,
		"DEV_MODE=1",
		"LOG_FORMAT=text",
		"GA_MEASUREMENT_ID="+gaID,
		"SERVICE_AUTH_SECRET="+secrets["SERVICE_AUTH_SECRET"],
		"ACCOUNT_ADDR="+env.suite.Services["account"],
		"BILLING_ADDR="+env.suite.Services["billing"],
		"MEDIA_ADDR="+env.suite.Services["media"],
		"ANALYSIS_ADDR="+env.suite.Services["analysis"],
		"GENERATION_ADDR="+env.suite.Services["generation"],
	)
	out := &suite.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("tagged gateway output:\n%s", out.String())
		}
	})
	if err := waitHTTP(t.Context(), "http://127.0.0.1:"+strconv.Itoa(port)+"/readyz", 30*time.Second); err != nil {
		t.Fatalf("tagged gateway: %v\n%s", err, out.String())
	}
	return base
}
