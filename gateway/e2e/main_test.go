// Package e2e drives the whole suite the way a seller does: it builds every
// binary, starts them with the local runner (photoshoot-local: PostgreSQL,
// NATS, five services and the gateway as separate processes), and uses the
// web app in a real headless Chromium through chromedp.
//
// One suite and one browser are shared by every test (TestMain); each test
// works in its own browser context (its own cookies) as its own user.
// Screenshots go to $PHOTOSHOOT_SCREENSHOTS, or a temporary directory the
// screenshot test prints.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/connectengine/photoshoot/gateway/e2e/suite"
)

// env is what TestMain set up for the tests.
var env struct {
	// base is the app's origin as browsers see it (PUBLIC_URL).
	base string
	// bin holds the built binaries; data is the suite's data directory.
	bin, data string
	suite     *suite.Suite
	// browser is the shared Chromium; tests open tabs from it.
	browser context.Context
	// fixture is a product photo (JPEG) for uploads.
	fixture string
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "photoshoot-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	env.bin = filepath.Join(tmp, "bin")
	env.data = filepath.Join(tmp, "data")

	if err := suite.Build(env.bin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.fixture = filepath.Join(tmp, "product.jpg")
	if err := writeFixture(env.fixture, 900, 700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := suite.Start(suite.Options{Root: root, Bin: env.bin, Data: env.data})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Stop()
	env.suite, env.base = s, s.Base

	browser, closeBrowser, err := startBrowser(filepath.Join(tmp, "chromium"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.browser = browser
	code := m.Run()
	closeBrowser()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "photoshoot-local output:\n%s\n", s.Output)
	}
	return code
}

// startBrowser starts one headless Chromium, lean: no GPU, no background
// networking, no component updates, a fresh profile.
func startBrowser(profile string) (context.Context, func(), error) {
	path := "chromium"
	if p, err := exec.LookPath("chromium"); err == nil {
		path = p
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// The app scrolls smoothly unless the user asks for reduced motion;
		// chromedp clicks where an element is after scrolling it into view,
		// and a click computed mid-animation lands elsewhere (TestSettings
		// failed on it). Reduced motion also exercises that CSS path.
		chromedp.Flag("force-prefers-reduced-motion", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	if err := chromedp.Do(browser); err != nil {
		cancelBrowser()
		cancelAlloc()
		return nil, nil, fmt.Errorf("start chromium (apt-get install -y chromium): %w", err)
	}
	return browser, func() { cancelBrowser(); cancelAlloc() }, nil
}

// newTab opens a tab in a fresh browser context (its own cookies and
// storage) and bounds the test's browser work by timeout.
func newTab(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(env.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tab, timeout)
	t.Cleanup(cancelTimeout)
	return ctx
}

var userSeq atomic.Int64

// newEmail is a unique address per call, so tests never share a user.
func newEmail(tag string) string {
	return fmt.Sprintf("%s-%d-%d@example.com", tag, time.Now().UnixNano()%1e9, userSeq.Add(1))
}

// do runs actions and fails the test with what was being done.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v (page: %s)", what, err, pageState(ctx))
	}
}

// eval evaluates a JavaScript expression and returns its value.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition (a value or a promise) until it is
// true or d passes. It survives navigations (an evaluation in a page that is going away fails
// and is retried).
func waitFor(t *testing.T, ctx context.Context, what, cond string, d time.Duration) {
	t.Helper()
	if err := poll(ctx, cond, d); err != nil {
		t.Fatalf("waiting for %s: %v (page: %s)", what, err, pageState(ctx))
	}
}

func poll(ctx context.Context, cond string, d time.Duration) error {
	deadline := time.Now().Add(d)
	expr := "(async () => { try { return Boolean(await (" + cond + ")); } catch (e) { return false; } })()"
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise))
		if err == nil && ok {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("still false after %s (last error %w)", d, err)
			}
			return fmt.Errorf("still false after %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pageState describes where the tab is, for failure messages.
func pageState(ctx context.Context) string {
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Evaluate[string](
		`location.href + ' — alerts: [' + [...document.querySelectorAll('.alert, [role=alert]')].map((a) => a.innerText.replace(/\s+/g, ' ')).join(' | ') +
		'] — page: ' + (document.querySelector('main') || document.body).innerText.replace(/\s+/g, ' ').slice(0, 1500)`))
	if err != nil {
		return "unknown: " + err.Error()
	}
	return s
}

// ready is true once the page's script has attached its handlers.
const ready = `document.body.dataset.ready === '1'`

// open navigates to path and waits until the page is interactive.
func open(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	do(t, ctx, "open "+path, chromedp.Navigate(env.base+path))
	waitFor(t, ctx, path+" to be ready", ready, 20*time.Second)
}

// signIn signs a new user in the way a newcomer does locally: ask for a
// link, open the dev mailbox, follow the link, press "Sign in".
func signIn(t *testing.T, ctx context.Context, email string) {
	t.Helper()
	open(t, ctx, "/sign-in")
	do(t, ctx, "ask for a sign-in link",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.Click(chromedp.CSS("[data-magic-form] button[type=submit]")),
	)
	waitFor(t, ctx, "the check-your-email page", `location.pathname === '/check-email'`, 15*time.Second)

	find := fmt.Sprintf(`(() => {
		const mail = [...document.querySelectorAll('.mail')].find((m) => m.textContent.includes(%q) && m.querySelector('a[href*="/auth/confirm"]'));
		return mail ? mail.querySelector('a[href*="/auth/confirm"]').href : '';
	})()`, email)
	var link string
	deadline := time.Now().Add(20 * time.Second)
	for link == "" {
		do(t, ctx, "open the dev mailbox", chromedp.Navigate(env.base+"/dev/mailbox"))
		link = eval[string](t, ctx, find)
		if link == "" && time.Now().After(deadline) {
			t.Fatalf("no sign-in mail for %s in the dev mailbox (page: %s)", email, pageState(ctx))
		}
	}
	if !strings.HasPrefix(link, env.base+"/auth/confirm#token=") {
		t.Fatalf("sign-in link %q does not open %s/auth/confirm#token=…", link, env.base)
	}
	do(t, ctx, "follow the sign-in link", chromedp.Navigate(link))
	waitFor(t, ctx, "the confirm page", ready, 20*time.Second)
	// Opening the link must not sign in (mail scanners prefetch links).
	if signedIn := eval[bool](t, ctx, `fetch('/v1/me').then((r) => r.ok)`); signedIn {
		t.Fatal("opening the sign-in link signed in before the button was pressed")
	}
	do(t, ctx, "press Sign in", chromedp.Click(chromedp.CSS("[data-confirm-button]")))
	waitFor(t, ctx, "the studio after sign-in", `location.pathname === '/studio' && `+ready, 20*time.Second)
}

// writeFixture writes a product photo: a bottle-like shape on a plain
// light background, as sellers are asked to shoot.
func writeFixture(path string, w, h int) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{236, 234, 230, 255}
			dx, dy := x-w/2, y-h/2
			switch {
			case dx*dx < 110*110 && dy > -120 && dy < 230:
				c = color.RGBA{40, 110, 80, 255}
				if dy > 20 && dy < 120 {
					c = color.RGBA{240, 230, 205, 255}
				}
			case dx*dx < 40*40 && dy > -230 && dy <= -120:
				c = color.RGBA{40, 110, 80, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, u string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last: %v)", u, d, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// hostOf is a URL's host, or "" when it does not parse.
func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Hostname()
}
