package identity

import "github.com/google/uuid"

// NewID returns a time-ordered (v7) UUID, so ids sort by creation.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}
