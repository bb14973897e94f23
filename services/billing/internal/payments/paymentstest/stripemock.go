package paymentstest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/connectengine/photoshoot/pkg/freeport"
)

// StripeMockVersion is the stripe-mock release the tests run.
const StripeMockVersion = "v0.203.0"

// StartStripeMock runs stripe-mock on 127.0.0.1 (both its HTTP and HTTPS
// listeners, so it never listens on all interfaces) for the test and
// returns its HTTP base URL. It uses $STRIPE_MOCK_BIN, else the repository's
// bin/stripe-mock (make tools), else installs it with `go install` into a
// directory under the user cache.
func StartStripeMock(t testing.TB) string {
	t.Helper()
	bin := stripeMockBinary(t)
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "-http-addr", httpAddr, "-https-addr", httpsAddr)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/customers/cus_x", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock not answering at %s: %v", base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stripeMockBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("STRIPE_MOCK_BIN"); p != "" {
		return p
	}
	if dir, err := os.Getwd(); err == nil {
		for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
				if p := filepath.Join(dir, "bin", "stripe-mock"); fileExists(p) {
					return p
				}
				break
			}
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	gobin := filepath.Join(cache, "photoshoot", "stripe-mock-"+StripeMockVersion)
	p := filepath.Join(gobin, "stripe-mock")
	if fileExists(p) {
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/stripe/stripe-mock@"+StripeMockVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install stripe-mock %s: %v\n%s", StripeMockVersion, err, out)
	}
	return p
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago (stripe-mock cannot be handed a listener).
func freeAddr(t testing.TB) string {
	t.Helper()
	port, err := freeport.Pick(nil)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}
