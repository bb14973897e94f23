package sse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/connectengine/photoshoot/gateway/internal/sse"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
)

// generation is the handler's test peer: job "j1" runs then succeeds;
// every other job is someone else's.
type generation struct {
	generationv1.UnimplementedGenerationServiceServer
}

func (generation) WatchGeneration(req *generationv1.WatchGenerationRequest, stream grpc.ServerStreamingServer[generationv1.WatchGenerationResponse]) error {
	if req.GetJobId() != "j1" {
		return status.Error(codes.NotFound, "job not found")
	}
	for _, st := range []generationv1.JobState{generationv1.JobState_JOB_STATE_RUNNING, generationv1.JobState_JOB_STATE_SUCCEEDED} {
		if err := stream.Send(&generationv1.WatchGenerationResponse{Job: &generationv1.Job{Id: "j1", State: st}}); err != nil {
			return err
		}
	}
	return nil
}

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	generationv1.RegisterGenerationServiceServer(srv, generation{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h := sse.NewHandler(generationv1.NewGenerationServiceClient(conn), slog.New(slog.DiscardHandler),
		func(r *http.Request) context.Context { return r.Context() })
	mux := http.NewServeMux()
	mux.Handle("GET /v1/generations/{job_id}/events", h)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestStreamsJobUpdatesUntilTheEnd(t *testing.T) {
	t.Parallel()
	ts := serve(t)
	resp, err := http.Get(ts.URL + "/v1/generations/j1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var events, data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			events = append(events, strings.TrimPrefix(line, "event: "))
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
	if strings.Join(events, ",") != "job,job,end" {
		t.Fatalf("events %v, want job,job,end", events)
	}
	for i, want := range []string{"JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"} {
		var job struct{ State string }
		if err := json.Unmarshal([]byte(data[i]), &job); err != nil || job.State != want {
			t.Errorf("update %d = %s, want state %s (%v)", i, data[i], want, err)
		}
	}
}

func TestAnotherUsersJobIsNotFound(t *testing.T) {
	t.Parallel()
	ts := serve(t)
	resp, err := http.Get(ts.URL + "/v1/generations/other/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var st struct{ Code int }
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != http.StatusNotFound || st.Code != int(codes.NotFound) {
		t.Errorf("status %d body %s, want 404 with a google.rpc.Status (%v)", resp.StatusCode, body, err)
	}
}
