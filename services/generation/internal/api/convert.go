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

// specFromProto reads a create request as sent: a zero field is one the
// request left unset (job.Looks.Resolve fills it from the Look or the
// defaults), except the product lock, which a Look does not carry: on
// unless the request turns it off.
func specFromProto(r *generationv1.CreateGenerationRequest) job.Spec {
	return job.Spec{
		ImageID: r.GetImageId(), SceneID: r.GetSceneId(), Prompt: r.GetPrompt(), Variants: int(r.GetVariants()),
		Aspect: r.GetAspectRatio(), Size: r.GetSize(), Marketplace: r.GetMarketplace(),
		ProductLock: r.ProductLock == nil || r.GetProductLock(), LookID: r.GetLookId(),
	}
}

func lookFromProto(l *generationv1.Look) job.Look {
	return job.Look{
		ID: l.GetId(), Name: l.GetName(), SceneID: l.GetSceneId(), Prompt: l.GetPrompt(), Variants: int(l.GetVariants()),
		Aspect: l.GetAspectRatio(), Size: l.GetSize(), Marketplace: l.GetMarketplace(), Seed: l.GetSeed(),
	}
}

func lookToProto(l *job.Look) *generationv1.Look {
	return &generationv1.Look{
		Id: l.ID, Name: l.Name, SceneId: l.SceneID, Prompt: l.Prompt, AspectRatio: l.Aspect, Size: l.Size,
		Marketplace: l.Marketplace, Seed: l.Seed, Variants: int32(l.Variants),
		CreateTime: ts(l.CreateTime), UpdateTime: ts(l.UpdateTime),
	}
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
