package session

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	a := NewAuthenticator(nil, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	cases := []struct {
		name, remote, xff, want string
	}{
		{name: "direct_client_ignores_header", remote: "203.0.113.9:5000", xff: "198.51.100.1", want: "203.0.113.9"},
		{name: "trusted_proxy_nearest_untrusted_hop", remote: "10.1.2.3:80", xff: "198.51.100.1, 203.0.113.7, 10.9.9.9", want: "203.0.113.7"},
		{name: "trusted_proxy_spoofed_left_hop_ignored", remote: "10.1.2.3:80", xff: "1.2.3.4, 203.0.113.7", want: "203.0.113.7"},
		{name: "trusted_proxy_without_header", remote: "10.1.2.3:80", want: "10.1.2.3"},
		{name: "garbage_header", remote: "10.1.2.3:80", xff: "not-an-ip", want: "10.1.2.3"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := a.clientIP(r); got != tc.want {
			t.Errorf("%s: clientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
}
