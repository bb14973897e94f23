package app_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
)

func TestExportAndDeletionComponent(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.billing.balance["alice"], e.billing.balance["bob"] = 10, 10
	alice, bob := e.as(t, "alice"), e.as(t, "bob")

	queued, err := e.client.CreateGeneration(alice, &generationv1.CreateGenerationRequest{ImageId: "img-1", SceneId: "marble", Variants: 3})
	if err != nil {
		t.Fatal(err)
	}
	canceled, err := e.client.CreateGeneration(alice, &generationv1.CreateGenerationRequest{ImageId: "img-2", Prompt: "on linen", Variants: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CancelGeneration(alice, &generationv1.CancelGenerationRequest{JobId: canceled.GetJob().GetId()}); err != nil {
		t.Fatal(err)
	}
	look, err := e.client.CreateLook(alice, &generationv1.CreateLookRequest{Look: &generationv1.Look{Name: "Mine", SceneId: "concrete"}})
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := e.client.CreateGeneration(bob, &generationv1.CreateGenerationRequest{ImageId: "img-9", SceneId: "marble"})
	if err != nil {
		t.Fatal(err)
	}
	if e.billing.credits("alice") != 7 {
		t.Fatalf("alice's balance %d before deletion, want 7 (3 held)", e.billing.credits("alice"))
	}

	t.Run("export_is_internal_and_complete", func(t *testing.T) {
		if _, err := e.client.ExportUserData(alice, &generationv1.ExportUserDataRequest{UserId: "alice"}); code(err) != codes.Unauthenticated {
			t.Errorf("export with a user token only: %v, want Unauthenticated", err)
		}
		if _, err := e.internal.ExportUserData(t.Context(), &generationv1.ExportUserDataRequest{}); code(err) != codes.InvalidArgument {
			t.Errorf("export without user: %v", err)
		}
		got, err := e.internal.ExportUserData(t.Context(), &generationv1.ExportUserDataRequest{UserId: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]*generationv1.Job{}
		for _, j := range got.GetJobs() {
			ids[j.GetId()] = j
		}
		q, c := ids[queued.GetJob().GetId()], ids[canceled.GetJob().GetId()]
		if len(got.GetJobs()) != 2 || q == nil || c == nil || len(q.GetOutputs()) != 3 || len(c.GetOutputs()) != 2 ||
			c.GetState() != generationv1.JobState_JOB_STATE_CANCELED {
			t.Errorf("exported jobs %v", got.GetJobs())
		}
		if len(got.GetLooks()) != 1 || got.GetLooks()[0].GetId() != look.GetLook().GetId() {
			t.Errorf("exported looks %v", got.GetLooks())
		}
	})

	t.Run("deletion_releases_holds_purges_and_confirms", func(t *testing.T) {
		publish(t, e.js, events.SubjectUserDeleted, "0190b5d6-0000-7000-8000-0000000000d1",
			&eventsv1.UserDeleted{UserId: "alice", DeletionId: "del-1"})
		var purged eventsv1.UserDataPurged
		waitEvent(t, e.js, events.StreamGeneration, events.SubjectGenerationUserPurged, &purged, func() bool {
			return purged.GetDeletionId() == "del-1"
		})
		if purged.GetUserId() != "alice" || purged.GetService() != "generation" || purged.GetPurgeTime() == nil {
			t.Errorf("confirmation %v", &purged)
		}
		if e.billing.credits("alice") != 10 {
			t.Errorf("alice's balance %d after deletion, want 10: the queued job's hold released", e.billing.credits("alice"))
		}
		got, err := e.internal.ExportUserData(t.Context(), &generationv1.ExportUserDataRequest{UserId: "alice"})
		if err != nil || len(got.GetJobs())+len(got.GetLooks()) != 0 {
			t.Errorf("after deletion alice has %d jobs and %d looks (%v)", len(got.GetJobs()), len(got.GetLooks()), err)
		}
		if _, err := e.client.GetLook(alice, &generationv1.GetLookRequest{LookId: look.GetLook().GetId()}); code(err) != codes.NotFound {
			t.Errorf("alice's look after deletion: %v", err)
		}
		j, err := e.client.GetGeneration(bob, &generationv1.GetGenerationRequest{JobId: bobs.GetJob().GetId()})
		if err != nil || j.GetJob().GetState() != generationv1.JobState_JOB_STATE_QUEUED || e.billing.credits("bob") != 9 {
			t.Errorf("bob's job after alice's deletion: %v, %v, balance %d", j.GetJob(), err, e.billing.credits("bob"))
		}
	})
}
