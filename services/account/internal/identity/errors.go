package identity

import "github.com/connectengine/photoshoot/pkg/apperr"

// Stable reasons of Precondition errors.
const (
	// ReasonAccountDeleting: the account is being or has been deleted.
	ReasonAccountDeleting = "ACCOUNT_DELETING"
	// ReasonPasswordRequired: changing a set password needs the current one.
	ReasonPasswordRequired = "CURRENT_PASSWORD_REQUIRED"
	// ReasonDevModeOnly: the call is served only in dev mode.
	ReasonDevModeOnly = "DEV_MODE_ONLY"
)

// ErrLinkInvalid answers every redemption that does not open a session:
// unknown, used, expired or malformed tokens look the same.
var ErrLinkInvalid = apperr.Unauthenticated("the sign-in link is invalid, used or expired")

// ErrBadCredentials answers every failed password sign-in: unknown email,
// no password set, or a wrong password look the same.
var ErrBadCredentials = apperr.Unauthenticated("wrong email or password")

// ErrInvalidCredential answers an Authenticate with an unknown, revoked or
// expired session token or API key.
var ErrInvalidCredential = apperr.Unauthenticated("invalid or expired credential")

// ErrAccountDeleting refuses sign-ins and changes to an account on its way out.
var ErrAccountDeleting = apperr.Precondition(ReasonAccountDeleting, "the account is being deleted")

// ErrNotAdmin refuses admin calls by other users.
var ErrNotAdmin = apperr.PermissionDenied("admin role required")
