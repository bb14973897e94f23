package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// DeleteConfirmation is the phrase DeleteAccount requires, typed by the user.
const DeleteConfirmation = "delete my account"

// ExportState is where a data export is.
type ExportState string

// The export states.
const (
	ExportPending   ExportState = "pending"
	ExportRunning   ExportState = "running"
	ExportSucceeded ExportState = "succeeded"
	ExportFailed    ExportState = "failed"
	// ExportExpired is a succeeded export whose zip was deleted after
	// ExportRetention.
	ExportExpired ExportState = "expired"
)

// ExportRetention is how long an export's zip is kept for download; the
// expirer then deletes it from media. An export holds everything about the
// user, so it is not left lying around.
const ExportRetention = 7 * 24 * time.Hour

// Export is a data export request and its result.
type Export struct {
	ID            string
	UserID        string
	State         ExportState
	CreateTime    time.Time
	CompleteTime  time.Time
	ImageID       string
	SizeBytes     int64
	FailureReason string
}

// Services are the services that hold user data besides account; a deletion
// completes when every one of them confirmed its purge.
var Services = []string{"billing", "media", "analysis", "generation"}

// StartExport queues a data export (ExportRequested in the same
// transaction). While one is pending or running, that one is returned.
func (s *Service) StartExport(ctx context.Context, userID string) (Export, error) {
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return Export{}, err
	}
	if u.State != StateActive {
		return Export{}, ErrAccountDeleting
	}
	e, err := s.store.CreateExport(ctx, userID, s.now())
	if err != nil {
		return Export{}, fmt.Errorf("start export: %w", err)
	}
	return e, nil
}

// Export reads one of the user's exports.
func (s *Service) Export(ctx context.Context, userID, exportID string) (Export, error) {
	return s.store.Export(ctx, userID, exportID)
}

// DeleteAccount starts the deletion: in one transaction every session and
// API key is revoked, the user is marked deleting and UserDeleted is
// emitted. It is idempotent: repeating it returns the deleting user.
func (s *Service) DeleteAccount(ctx context.Context, userID, confirmation string) (User, error) {
	if confirmation != DeleteConfirmation {
		return User{}, apperr.Invalid("confirmation required", apperr.Violation{
			Field: "confirmation", Description: fmt.Sprintf("must be exactly %q", DeleteConfirmation)})
	}
	u, err := s.store.StartDeletion(ctx, userID, s.now())
	if err != nil {
		return User{}, fmt.Errorf("delete account %s: %w", userID, err)
	}
	return u, nil
}

// UserData is account's part of a data export.
func (s *Service) UserData(ctx context.Context, userID string) (UserData, error) {
	d, err := s.store.UserData(ctx, userID)
	if err != nil {
		return UserData{}, err
	}
	d.User = s.withAdmin(d.User)
	return d, nil
}
