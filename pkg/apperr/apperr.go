// Package apperr gives domain code a small set of error kinds and owns the
// one mapping from those kinds to gRPC status codes with google.rpc details.
//
// Domain and store code return kinds (NotFound, Invalid, Precondition, …);
// the rpc interceptor calls ToStatus once per failed call and logs the cause
// at the level it returns. Calls to other services translate a downstream
// status back into a kind on purpose with FromStatus.
package apperr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Domain is the ErrorInfo domain attached to Precondition errors, so clients
// can tell our stable reasons from those of other APIs.
const Domain = "photoshoot.studio"

// Kind classifies an error by what the caller can do about it. The zero value
// is KindInternal, so an unclassified error is never shown to clients.
type Kind int

// The kinds, each matching one gRPC status code (see ToStatus).
const (
	KindInternal         Kind = iota // a bug or an unexpected failure; details stay in the log
	KindNotFound                     // also for rows the caller does not own
	KindInvalid                      // the request is malformed; carries field violations
	KindPrecondition                 // the request is valid but the state forbids it; carries a reason
	KindConflict                     // the resource already exists (AlreadyExists)
	KindAborted                      // a concurrency conflict; the client may retry the whole operation
	KindUnavailable                  // a transient outage; retryable
	KindUnauthenticated              // missing or invalid credentials
	KindPermissionDenied             // authenticated, but not allowed
	KindTooMany                      // rate limited (ResourceExhausted); may carry a retry delay
	KindCanceled                     // the caller gave up
	KindDeadline                     // the deadline passed before the work finished
)

var kindNames = [...]string{
	KindInternal:         "internal",
	KindNotFound:         "not_found",
	KindInvalid:          "invalid",
	KindPrecondition:     "precondition",
	KindConflict:         "conflict",
	KindAborted:          "aborted",
	KindUnavailable:      "unavailable",
	KindUnauthenticated:  "unauthenticated",
	KindPermissionDenied: "permission_denied",
	KindTooMany:          "too_many",
	KindCanceled:         "canceled",
	KindDeadline:         "deadline",
}

// String returns a stable snake_case name, convenient for logs and test names.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Violation is one field-level problem of an Invalid request; it becomes a
// google.rpc.BadRequest.FieldViolation on the wire.
type Violation struct {
	Field       string
	Description string
}

// Error is a classified error. Its message is public (it is sent to the
// client); the cause is private and only reaches the log through Error().
type Error struct {
	kind       Kind
	msg        string
	reason     string
	violations []Violation
	retryAfter time.Duration
	cause      error
}

// Error returns the public message followed by the cause, for logs.
func (e *Error) Error() string {
	if e.cause == nil {
		return e.msg
	}
	if e.msg == "" {
		return e.cause.Error()
	}
	return e.msg + ": " + e.cause.Error()
}

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.cause }

// Kind reports the classification.
func (e *Error) Kind() Kind { return e.kind }

// Message is the text safe to show to the client.
func (e *Error) Message() string { return e.msg }

// Reason is the stable machine-readable reason of a Precondition error,
// such as INSUFFICIENT_CREDITS; empty for other kinds.
func (e *Error) Reason() string { return e.reason }

// Violations lists the field violations of an Invalid error.
func (e *Error) Violations() []Violation { return append([]Violation(nil), e.violations...) }

// RetryAfter is how long a TooMany caller should wait; zero when unknown.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// NotFound reports a missing resource. Use it as well for a resource that
// exists but belongs to someone else, so existence does not leak.
func NotFound(format string, a ...any) error {
	return &Error{kind: KindNotFound, msg: fmt.Sprintf(format, a...)}
}

// Invalid reports a malformed request, with one violation per bad field.
func Invalid(msg string, v ...Violation) error {
	return &Error{kind: KindInvalid, msg: msg, violations: append([]Violation(nil), v...)}
}

// Precondition reports a valid request that the current state forbids. The
// reason is a stable UPPER_SNAKE_CASE code that clients may switch on.
func Precondition(reason, msg string) error {
	return &Error{kind: KindPrecondition, msg: msg, reason: reason}
}

// Conflict reports that the resource being created already exists.
func Conflict(format string, a ...any) error {
	return &Error{kind: KindConflict, msg: fmt.Sprintf(format, a...)}
}

// Aborted reports a concurrency conflict (a lost optimistic lock, a
// serialization failure) that the client may resolve by retrying.
func Aborted(format string, a ...any) error {
	return &Error{kind: KindAborted, msg: fmt.Sprintf(format, a...)}
}

// Unavailable reports a retryable outage of a dependency. The cause is kept
// for the log and never sent to the client.
func Unavailable(msg string, cause error) error {
	return &Error{kind: KindUnavailable, msg: msg, cause: cause}
}

// Unauthenticated reports missing or invalid credentials. Keep msg generic:
// telling a client why its token failed helps attackers more than users.
func Unauthenticated(msg string) error {
	return &Error{kind: KindUnauthenticated, msg: msg}
}

// PermissionDenied reports an authenticated caller acting beyond its rights.
// Prefer NotFound when the mere existence of the resource is private.
func PermissionDenied(msg string) error {
	return &Error{kind: KindPermissionDenied, msg: msg}
}

// TooMany reports rate limiting; retryAfter, when positive, travels as a
// google.rpc.RetryInfo detail that the gateway turns into Retry-After.
func TooMany(msg string, retryAfter time.Duration) error {
	return &Error{kind: KindTooMany, msg: msg, retryAfter: retryAfter}
}

// KindOf finds the kind of err through any wrapping. Context cancellation and
// deadline errors report KindCanceled and KindDeadline; anything else that is
// not an *Error is KindInternal (as is nil: check err first).
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.kind
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return KindDeadline
	default:
		return KindInternal
	}
}
