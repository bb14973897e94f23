package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestCrossSiteFormPostIsRefused: a signed-in seller visits a page on
// another origin that auto-submits a form to the gateway. The form is the
// classic JSON-over-text/plain trick, so the body would parse as a request
// to create an API key. Refusal must come from the gateway's cross-origin
// protection (403), not from luck: from a same-site origin (localhost on
// another port) the SameSite=Lax session cookie is sent, so only the
// origin check stands in the way.
func TestCrossSiteFormPostIsRefused(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 2*time.Minute)
	signIn(t, ctx, newEmail("csrf"))

	target := env.base + "/v1/api-keys"
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="POST" action="%s" enctype="text/plain">
<input type="hidden" name='{"name":"csrf-probe' value='"}'></form>
<script>addEventListener('load', () => document.getElementById('f').submit())</script>`, target)
	}))
	t.Cleanup(attacker.Close)
	port := attacker.URL[strings.LastIndex(attacker.URL, ":")+1:]

	for name, origin := range map[string]string{
		"same_site_other_port": "http://localhost:" + port,
		"other_site":           "http://127.0.0.1:" + port,
	} {
		resp, err := chromedp.Run(ctx, chromedp.WaitEvent(network.ResponseReceived,
			func(ev network.EventResponseReceived) bool { return ev.Response.URL == target },
			chromedp.Navigate(origin+"/")))
		if err != nil {
			t.Fatalf("%s: the cross-site post was not observed: %v", name, err)
		}
		if resp.Response.Status != http.StatusForbidden {
			t.Errorf("%s: cross-site POST %s = %d, want 403", name, target, resp.Response.Status)
		}
	}

	do(t, ctx, "back to the app", chromedp.Navigate(env.base+"/settings"))
	keys := eval[string](t, ctx, `fetch('/v1/api-keys').then((r) => r.json()).then((b) => JSON.stringify(b.apiKeys || []))`)
	if strings.Contains(keys, "csrf-probe") {
		t.Errorf("the cross-site post created an API key: %s", keys)
	}
	// The same request from the app's own origin is accepted, so the 403
	// above is the origin check and not a malformed body.
	code := eval[int](t, ctx, `fetch('/v1/api-keys', {method: 'POST', headers: {'Content-Type': 'text/plain'}, body: '{"name":"csrf-probe="}'}).then((r) => r.status)`)
	if code != http.StatusOK {
		t.Errorf("same-origin POST /v1/api-keys = %d, want 200", code)
	}
}
