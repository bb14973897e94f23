package password_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/connectengine/photoshoot/services/account/internal/password"
)

func newHasher(t *testing.T, p password.Params, n int) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(p, n)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHash_phcWithDefaultParams(t *testing.T) {
	t.Parallel()
	h := newHasher(t, password.DefaultParams, 2)
	phc, err := h.Hash(t.Context(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("phc = %q, want argon2id m=19456,t=2,p=1", phc)
	}
	p, salt, key, err := password.Decode(phc)
	if err != nil {
		t.Fatal(err)
	}
	if p != password.DefaultParams || len(salt) != 16 || len(key) != 32 {
		t.Errorf("decoded %+v salt %d key %d", p, len(salt), len(key))
	}
	again, err := h.Hash(t.Context(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if again == phc {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	h := newHasher(t, password.DefaultParams, 2)
	phc, err := h.Hash(t.Context(), "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		pw   string
		want error
	}{
		"right":       {"s3cret-pass", nil},
		"wrong":       {"s3cret-pasS", password.ErrMismatch},
		"empty":       {"", password.ErrMismatch},
		"prefix_only": {"s3cret", password.ErrMismatch},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rehash, err := h.Verify(t.Context(), phc, tc.pw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if rehash {
				t.Error("needsRehash for a hash with current parameters")
			}
		})
	}
}

func TestVerify_oldParamsNeedRehash(t *testing.T) {
	t.Parallel()
	old := password.DefaultParams
	stronger := old
	stronger.Time = 3
	oldHash, err := newHasher(t, old, 1).Hash(t.Context(), "pw-pw-pw-pw")
	if err != nil {
		t.Fatal(err)
	}
	h := newHasher(t, stronger, 1)
	rehash, err := h.Verify(t.Context(), oldHash, "pw-pw-pw-pw")
	if err != nil {
		t.Fatalf("Verify old hash: %v", err)
	}
	if !rehash {
		t.Error("old parameters not flagged for rehash")
	}
	newHash, err := h.Hash(t.Context(), "pw-pw-pw-pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(newHash, "m=19456,t=3,p=1") {
		t.Errorf("rehash = %q, want t=3", newHash)
	}
}

func TestNewHasher_refusesWeakParams(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]password.Params{
		"low_memory": {Memory: 4096, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		"one_pass":   {Memory: 19456, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		"short_salt": {Memory: 19456, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32},
		"no_threads": {Memory: 19456, Time: 2, Threads: 0, SaltLen: 16, KeyLen: 32},
		"short_key":  {Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		if _, err := password.NewHasher(p, 1); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecode_rejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, _, _, err := password.Decode(s); err == nil {
			t.Errorf("Decode(%q) accepted", s)
		}
	}
}
