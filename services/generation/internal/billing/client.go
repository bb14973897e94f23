// Package billing is the generation service's client of billing's internal
// credit RPCs: hold credits for a job, capture what it produced, release the
// rest. Downstream statuses are translated on purpose with apperr.FromStatus,
// so INSUFFICIENT_CREDITS reaches the seller as FailedPrecondition with its
// reason.
package billing

import (
	"context"
	"fmt"

	"github.com/connectengine/photoshoot/pkg/apperr"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
)

// Client implements job.Credits over billing's gRPC API.
type Client struct {
	c billingv1.BillingServiceClient
}

// New returns a client over an established billing connection.
func New(c billingv1.BillingServiceClient) *Client { return &Client{c: c} }

// Reserve holds amount credits of userID for jobID (idempotent by job id).
func (c *Client) Reserve(ctx context.Context, jobID, userID string, amount int64) (string, error) {
	resp, err := c.c.Reserve(ctx, &billingv1.ReserveRequest{JobId: jobID, UserId: userID, Amount: amount})
	if err != nil {
		return "", fmt.Errorf("reserve: %w", apperr.FromStatus(err))
	}
	return resp.GetHold().GetId(), nil
}

// Capture consumes amount credits of the hold and returns the rest.
func (c *Client) Capture(ctx context.Context, holdID string, amount int64) error {
	if _, err := c.c.Capture(ctx, &billingv1.CaptureRequest{HoldId: holdID, Amount: amount}); err != nil {
		return fmt.Errorf("capture %s: %w", holdID, apperr.FromStatus(err))
	}
	return nil
}

// Release returns the whole hold.
func (c *Client) Release(ctx context.Context, holdID string) error {
	if _, err := c.c.Release(ctx, &billingv1.ReleaseRequest{HoldId: holdID}); err != nil {
		return fmt.Errorf("release %s: %w", holdID, apperr.FromStatus(err))
	}
	return nil
}
