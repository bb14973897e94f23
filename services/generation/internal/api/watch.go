package api

import (
	"fmt"
	"time"

	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

// watchPoll re-reads a watched job even without a wake-up.
const watchPoll = 5 * time.Second

// Watcher wakes a stream when a job moves (internal/watch.Hub).
type Watcher interface {
	Watch(id string) (<-chan struct{}, func())
}

// WatchGeneration streams the caller's job: its current state first, then
// every change, ending after the job ends.
func (s *Server) WatchGeneration(req *generationv1.WatchGenerationRequest, stream generationv1.GenerationService_WatchGenerationServer) error {
	ctx := stream.Context()
	user, err := caller(ctx)
	if err != nil {
		return err
	}
	moved, stop := s.watcher.Watch(req.GetJobId())
	defer stop()
	j, err := s.jobs.Get(ctx, user, req.GetJobId())
	if err != nil {
		return err
	}
	last := progress(j)
	if err := stream.Send(&generationv1.WatchGenerationResponse{Job: jobToProto(j)}); err != nil {
		return err
	}
	poll := time.NewTicker(watchPoll)
	defer poll.Stop()
	for !j.State.Terminal() {
		select {
		case <-ctx.Done():
			return nil
		case <-moved:
		case <-poll.C:
		}
		if j, err = s.jobs.Get(ctx, user, req.GetJobId()); err != nil {
			return err
		}
		if p := progress(j); p != last {
			last = p
			if err := stream.Send(&generationv1.WatchGenerationResponse{Job: jobToProto(j)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// progress is what a watcher sees change; lease renewals are not news.
func progress(j *job.Job) string {
	p := fmt.Sprintf("%s/%d/%s", j.State, j.Attempts, j.Error)
	for _, o := range j.Outputs {
		p += fmt.Sprintf("/%s:%s", o.State, o.ImageID)
	}
	return p
}
