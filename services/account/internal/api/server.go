// Package api translates the account service's gRPC calls into its domain.
package api

import (
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

// Server implements accountv1.AccountServiceServer. The RPCs' logic arrives with
// issue #3; until then every RPC answers codes.Unimplemented, which
// the embedded type provides, rather than a made-up answer.
type Server struct {
	accountv1.UnimplementedAccountServiceServer
}
