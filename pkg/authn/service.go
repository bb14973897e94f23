package authn

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// ServiceAudience is the audience of service credentials. User tokens never
// carry it, and service credentials carry nothing else.
const ServiceAudience = "photoshoot-internal"

// MinServiceSecretLen is the shortest shared secret accepted. HMAC accepts
// any key, even an empty one, which would let anyone mint credentials when
// SERVICE_AUTH_SECRET is unset; refusing it at start-up fails closed.
const MinServiceSecretLen = 32

const (
	serviceTokenTTL   = MaxTokenTTL
	serviceRenewAhead = time.Minute
	serviceLeeway     = 30 * time.Second
)

func checkSecret(secret []byte) error {
	if len(secret) < MinServiceSecretLen {
		return fmt.Errorf("service secret has %d bytes, want at least %d", len(secret), MinServiceSecretLen)
	}
	return nil
}

// ServiceTokenSource mints the credential a service attaches to its internal
// calls. Tokens are cached and renewed a minute before they expire, so most
// calls cost a mutex and no signature. It is safe for concurrent use.
type ServiceTokenSource struct {
	secret  []byte
	service string

	mu     sync.Mutex
	token  string
	issued time.Time
	expiry time.Time
}

// NewServiceToken returns a source of credentials naming service.
func NewServiceToken(secret []byte, service string) (*ServiceTokenSource, error) {
	if err := checkSecret(secret); err != nil {
		return nil, fmt.Errorf("new service token: %w", err)
	}
	if service == "" {
		return nil, errors.New("new service token: empty service name")
	}
	return &ServiceTokenSource{secret: append([]byte(nil), secret...), service: service}, nil
}

// Token returns a credential valid at now.
func (s *ServiceTokenSource) Token(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && !now.Before(s.issued) && now.Before(s.expiry.Add(-serviceRenewAhead)) {
		return s.token
	}
	claims := jwt.RegisteredClaims{
		Issuer:    s.service,
		Subject:   s.service,
		Audience:  jwt.ClaimStrings{ServiceAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(serviceTokenTTL)),
	}
	// HS256 signing with a []byte key cannot fail.
	signed, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.secret)
	s.token, s.issued, s.expiry = signed, claims.IssuedAt.Time, claims.ExpiresAt.Time
	return signed
}

// ServiceVerifier checks service credentials. It is safe for concurrent use.
type ServiceVerifier struct {
	secret []byte
	parser *jwt.Parser
}

// NewServiceVerifier returns a verifier for credentials signed with secret.
func NewServiceVerifier(secret []byte) (*ServiceVerifier, error) {
	if err := checkSecret(secret); err != nil {
		return nil, fmt.Errorf("new service verifier: %w", err)
	}
	return &ServiceVerifier{
		secret: append([]byte(nil), secret...),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithAudience(ServiceAudience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(serviceLeeway),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// Verify returns the calling service's name. Only HS256 is accepted, so a
// user's EdDSA token is never mistaken for a service credential. Rejections
// are apperr.Unauthenticated with the reason wrapped for the log.
func (v *ServiceVerifier) Verify(token string) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.secret, nil })
	if err == nil {
		err = checkLifetime(claims, serviceLeeway)
	}
	if err == nil && claims.Subject == "" {
		err = errors.New("no subject")
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", apperr.Unauthenticated("invalid service credential"), err)
	}
	return claims.Subject, nil
}
