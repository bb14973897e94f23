// Package api translates the billing service's gRPC calls into its domain.
package api

import (
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
)

// Server implements billingv1.BillingServiceServer. The RPCs' logic arrives with
// issue #4; until then every RPC answers codes.Unimplemented, which
// the embedded type provides, rather than a made-up answer.
type Server struct {
	billingv1.UnimplementedBillingServiceServer
}
