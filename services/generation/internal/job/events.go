package job

import (
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
)

// The events a job emits carry no personal data beyond the user id (which
// consumers need to find the job): no prompt, no image, no email.

// StartedEvent says attempt j.Attempts began.
func StartedEvent(j *Job) events.Event {
	return events.NewEvent(events.SubjectJobStarted, &eventsv1.JobStarted{
		JobId: j.ID, UserId: j.UserID, SceneId: j.Spec.SceneID, Attempt: int32(j.Attempts),
	})
}

// CompletedEvent says j produced at least one image; its credits are
// captured for exactly those.
func CompletedEvent(j *Job) events.Event {
	var produced int32
	for _, o := range j.Outputs {
		if o.State == OutputSucceeded {
			produced++
		}
	}
	return events.NewEvent(events.SubjectJobCompleted, &eventsv1.JobCompleted{
		JobId: j.ID, UserId: j.UserID, SceneId: j.Spec.SceneID, Produced: produced, Requested: int32(len(j.Outputs)),
		CreditsCaptured: j.Captured, Duration: durationpb.New(j.CompleteTime.Sub(j.CreateTime)),
	})
}

// FailedEvent says j ended with nothing produced (failed or canceled);
// class is a short machine-readable cause such as "provider_unavailable".
func FailedEvent(j *Job, class string) events.Event {
	return events.NewEvent(events.SubjectJobFailed, &eventsv1.JobFailed{
		JobId: j.ID, UserId: j.UserID, SceneId: j.Spec.SceneID, ErrorClass: class,
		Duration: durationpb.New(j.CompleteTime.Sub(j.CreateTime)),
	})
}
