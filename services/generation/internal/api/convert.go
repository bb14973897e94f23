package api

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/market"
)

var jobStates = map[job.State]generationv1.JobState{
	job.Queued:             generationv1.JobState_JOB_STATE_QUEUED,
	job.Running:            generationv1.JobState_JOB_STATE_RUNNING,
	job.Succeeded:          generationv1.JobState_JOB_STATE_SUCCEEDED,
	job.PartiallySucceeded: generationv1.JobState_JOB_STATE_PARTIALLY_SUCCEEDED,
	job.Failed:             generationv1.JobState_JOB_STATE_FAILED,
	job.Canceled:           generationv1.JobState_JOB_STATE_CANCELED,
}

var outputStates = map[job.OutputState]generationv1.OutputState{
	job.OutputPending:   generationv1.OutputState_OUTPUT_STATE_PENDING,
	job.OutputSucceeded: generationv1.OutputState_OUTPUT_STATE_SUCCEEDED,
	job.OutputFailed:    generationv1.OutputState_OUTPUT_STATE_FAILED,
}

// specFromProto reads a create request with the documented defaults:
// one variant, 1:1, 1K, product lock on.
func specFromProto(r *generationv1.CreateGenerationRequest) job.Spec {
	s := job.Spec{
		ImageID: r.GetImageId(), SceneID: r.GetSceneId(), Prompt: r.GetPrompt(), Variants: int(r.GetVariants()),
		Aspect: r.GetAspectRatio(), Size: r.GetSize(), Marketplace: r.GetMarketplace(), ProductLock: true,
		LookID: r.GetLookId(),
	}
	if r.Variants == 0 {
		s.Variants = 1
	}
	if s.Aspect == "" {
		s.Aspect = "1:1"
	}
	if s.Size == "" {
		s.Size = "1K"
	}
	if r.ProductLock != nil {
		s.ProductLock = r.GetProductLock()
	}
	return s
}

func jobToProto(j *job.Job) *generationv1.Job {
	p := &generationv1.Job{
		Id: j.ID, ImageId: j.Spec.ImageID, SceneId: j.Spec.SceneID, Prompt: j.Spec.Prompt, Variants: int32(j.Spec.Variants),
		AspectRatio: j.Spec.Aspect, Size: j.Spec.Size, Marketplace: j.Spec.Marketplace, ProductLock: j.Spec.ProductLock,
		LookId: j.Spec.LookID, Seed: j.Spec.Seed, State: jobStates[j.State], Error: j.Error, Attempts: int32(j.Attempts),
		Credits:    &generationv1.Credits{HoldId: j.HoldID, Reserved: j.Reserved, Captured: j.Captured, Released: j.Released},
		CreateTime: ts(j.CreateTime), UpdateTime: ts(j.UpdateTime), StartTime: ts(j.StartTime), CompleteTime: ts(j.CompleteTime),
	}
	for _, o := range j.Outputs {
		p.Outputs = append(p.Outputs, &generationv1.Output{
			Index: int32(o.Index), State: outputStates[o.State], ImageId: o.ImageID, FidelityScore: o.Fidelity,
			FidelityFlagged: o.Flagged, Compliance: complianceToProto(o.Compliance), Error: o.Error,
		})
	}
	return p
}

func complianceToProto(v *market.Verdict) *generationv1.Compliance {
	if v == nil {
		return nil
	}
	c := &generationv1.Compliance{Marketplace: v.Marketplace, Passed: v.Passed, Adjusted: v.Adjusted}
	for _, ch := range v.Checks {
		c.Checks = append(c.Checks, &generationv1.ComplianceCheck{Name: ch.Name, Passed: ch.Passed, Value: ch.Value, Threshold: ch.Threshold})
	}
	return c
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
