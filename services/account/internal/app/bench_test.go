package app_test

import (
	"testing"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

// BenchmarkAuthenticate measures session token → access token over real
// gRPC on loopback: one UPDATE … RETURNING on Postgres and one Ed25519
// signature per call.
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b, false)
	r := e.start(nil)
	s, _ := r.signIn(b, "bench@example.com")
	req := &accountv1.AuthenticateRequest{Credential: &accountv1.AuthenticateRequest_SessionToken{SessionToken: s.GetSessionToken()}}
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.client.Authenticate(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}
