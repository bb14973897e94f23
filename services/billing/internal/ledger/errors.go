package ledger

import "github.com/connectengine/photoshoot/pkg/apperr"

// Stable reasons of Precondition errors, which clients switch on.
const (
	// ReasonInsufficientCredits: available < the amount to hold.
	ReasonInsufficientCredits = "INSUFFICIENT_CREDITS"
	// ReasonHoldEnded: the hold already ended another way (captured vs
	// released or expired, or captured for a different amount).
	ReasonHoldEnded = "HOLD_ENDED"
	// ReasonAccountClosed: the user deleted their account.
	ReasonAccountClosed = "ACCOUNT_CLOSED"
)

// ErrInsufficientCredits refuses a reserve that available cannot cover.
var ErrInsufficientCredits = apperr.Precondition(ReasonInsufficientCredits, "not enough credits available")

// ErrHoldEnded refuses a capture or release of a hold that ended otherwise.
var ErrHoldEnded = apperr.Precondition(ReasonHoldEnded, "the hold has already ended")

// ErrAccountClosed refuses grants and holds for a deleted account.
var ErrAccountClosed = apperr.Precondition(ReasonAccountClosed, "the account is closed")

// ErrIdempotencyConflict refuses a repeated key (job id, grant key) that
// comes with different parameters than the first request.
var ErrIdempotencyConflict = apperr.Conflict("the idempotency key was already used with different parameters")
