// Package sse serves a generation job's updates to browsers as server-sent
// events (GET /v1/generations/{job_id}/events), from generation's
// WatchGeneration stream. Ownership is the service's to check: another
// user's job is NotFound there, and so here.
package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
)

// Heartbeat is how often a comment line keeps idle proxies from closing
// the stream.
const Heartbeat = 15 * time.Second

// Handler streams job updates.
type Handler struct {
	client generationv1.GenerationServiceClient
	logger *slog.Logger
	// Outgoing turns the request into the context of the gRPC call, with
	// the caller's access token.
	Outgoing func(r *http.Request) context.Context
}

// NewHandler returns a Handler that asks generation.
func NewHandler(client generationv1.GenerationServiceClient, logger *slog.Logger, outgoing func(*http.Request) context.Context) *Handler {
	return &Handler{client: client, logger: logger, Outgoing: outgoing}
}

var jsonOpts = protojson.MarshalOptions{EmitUnpopulated: true}

// ServeHTTP sends `event: job` with the job's JSON on every change, and
// `event: end` when the job has ended. Errors before the first event are
// ordinary JSON errors with their HTTP status (404 for a job that is not
// the caller's); after it, the stream just ends and the browser's
// EventSource reconnects, getting the current state first.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithCancel(h.Outgoing(r))
	defer cancel()
	stream, err := h.client.WatchGeneration(ctx, &generationv1.WatchGenerationRequest{JobId: r.PathValue("job_id")})
	if err != nil {
		writeError(w, err)
		return
	}
	updates := make(chan *generationv1.WatchGenerationResponse)
	errc := make(chan error, 1)
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case updates <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()

	started := false
	start := func() {
		if started {
			return
		}
		started = true
		hd := w.Header()
		hd.Set("Content-Type", "text/event-stream")
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
	}
	tick := time.NewTicker(Heartbeat)
	defer tick.Stop()
	for {
		select {
		case msg := <-updates:
			start()
			data, err := jsonOpts.Marshal(msg.GetJob())
			if err != nil {
				h.logger.ErrorContext(ctx, "encode job update", "error", err)
				return
			}
			fmt.Fprintf(w, "event: job\ndata: %s\n\n", data)
			flusher.Flush()
		case err := <-errc:
			if !started {
				if errors.Is(err, io.EOF) {
					start()
					fmt.Fprint(w, "event: end\ndata: {}\n\n")
					return
				}
				writeError(w, err)
				return
			}
			if errors.Is(err, io.EOF) {
				fmt.Fprint(w, "event: end\ndata: {}\n\n")
				flusher.Flush()
			} else if status.Code(err) != codes.Canceled {
				h.logger.WarnContext(ctx, "job stream broke", "error", err)
			}
			return
		case <-tick.C:
			start()
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func writeError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	buf, _ := protojson.Marshal(st.Proto())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	_, _ = w.Write(buf)
}
