package edge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLimiterBurstThenRefuse(t *testing.T) {
	t.Parallel()
	l := NewLimiter(60, 3)
	for i := range 3 {
		if ok, _ := l.Allow("ip:1"); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("ip:1")
	if ok || wait <= 0 {
		t.Errorf("fourth request: ok=%v wait=%v, want refused with a wait", ok, wait)
	}
	if ok, _ := l.Allow("ip:2"); !ok {
		t.Error("another key shares the first key's bucket")
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	h := RequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	cases := []struct {
		name, sent string
		kept       bool
	}{
		{name: "sane_id_echoed", sent: "req-01.ab_cd:EF", kept: true},
		{name: "missing_id_generated", sent: ""},
		{name: "too_short_replaced", sent: "abc"},
		{name: "bad_character_replaced", sent: "abcdefgh<script>"},
		{name: "too_long_replaced", sent: strings.Repeat("a", 129)},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.sent != "" {
			r.Header.Set("X-Request-Id", tc.sent)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("X-Request-Id")
		switch {
		case tc.kept && got != tc.sent:
			t.Errorf("%s: X-Request-Id %q, want %q echoed", tc.name, got, tc.sent)
		case !tc.kept && (got == tc.sent || len(got) != 24 || seen[got]):
			t.Errorf("%s: X-Request-Id %q, want a fresh 24-digit id", tc.name, got)
		}
		seen[got] = true
	}
}

func TestSecurityHeadersSharedSafely(t *testing.T) {
	t.Parallel()
	h := Security(SecurityOptions{HSTS: true, ScriptHosts: []string{"https://www.googletagmanager.com"}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A handler that adds to a preset header must not change what
			// the next response gets.
			w.Header().Add("Referrer-Policy", "no-referrer")
		}))
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		if got := w.Header().Values("Referrer-Policy"); len(got) != 2 || got[0] != "strict-origin-when-cross-origin" {
			t.Errorf("Referrer-Policy = %q", got)
		}
		for _, k := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Cross-Origin-Opener-Policy", "Strict-Transport-Security"} {
			if len(w.Header().Values(k)) != 1 {
				t.Errorf("%s = %q, want one value", k, w.Header().Values(k))
			}
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' https://www.googletagmanager.com;") {
			t.Errorf("CSP = %q", csp)
		}
	}
}
