// Package api translates the media service's gRPC calls into its domain.
package api

import (
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// Server implements mediav1.MediaServiceServer. The RPCs' logic arrives with
// issue #5; until then every RPC answers codes.Unimplemented, which
// the embedded type provides, rather than a made-up answer.
type Server struct {
	mediav1.UnimplementedMediaServiceServer
}
