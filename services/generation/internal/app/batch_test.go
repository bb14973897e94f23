package app_test

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
)

func TestBatchComponent(t *testing.T) {
	t.Parallel()
	e := start(t)
	alice := e.as(t, "alice")
	e.billing.balance["alice"] = 6

	look, err := e.client.CreateLook(alice, &generationv1.CreateLookRequest{Look: &generationv1.Look{
		Name: "Catalogue", SceneId: "light-wood", Variants: 2, AspectRatio: "4:5", Size: "2K", Seed: 99,
	}})
	if err != nil {
		t.Fatal(err)
	}
	lookID := look.GetLook().GetId()

	t.Run("invalid_batches_hold_nothing", func(t *testing.T) {
		many := make([]string, 51)
		for i := range many {
			many[i] = fmt.Sprintf("img-%d", i)
		}
		for field, req := range map[string]*generationv1.BatchCreateGenerationsRequest{
			"image_ids":         {Template: &generationv1.CreateGenerationRequest{LookId: lookID}},
			"image_ids[2]":      {ImageIds: []string{"a", "b", "a"}, Template: &generationv1.CreateGenerationRequest{LookId: lookID}},
			"template.scene_id": {ImageIds: []string{"a"}, Template: &generationv1.CreateGenerationRequest{SceneId: "moon"}},
			"template.look_id":  {ImageIds: []string{"a"}, Template: &generationv1.CreateGenerationRequest{LookId: "0190b5d6-0000-7000-8000-000000000001"}},
			"template":          {ImageIds: []string{"a"}},
		} {
			_, err := e.client.BatchCreateGenerations(alice, req)
			if code(err) != codes.InvalidArgument || !names(err, field) {
				t.Errorf("%s: %v (fields %v)", field, err, fieldViolations(err))
			}
		}
		_, err := e.client.BatchCreateGenerations(alice, &generationv1.BatchCreateGenerationsRequest{
			ImageIds: many, Template: &generationv1.CreateGenerationRequest{SceneId: "marble"},
		})
		if code(err) != codes.InvalidArgument || !names(err, "image_ids") {
			t.Errorf("51 images: %v (fields %v)", err, fieldViolations(err))
		}
		if e.billing.credits("alice") != 6 {
			t.Fatalf("balance %d after refused batches, want 6", e.billing.credits("alice"))
		}
	})

	// Three images × the look's two variants need 6 credits; with 5 the
	// batch is refused whole and the first two jobs are cancelled.
	e.billing.mu.Lock()
	e.billing.balance["alice"] = 5
	e.billing.mu.Unlock()
	images := []string{"img-a", "img-b", "img-c"}
	batch := func(requestID string) (*generationv1.BatchCreateGenerationsResponse, error) {
		return e.client.BatchCreateGenerations(alice, &generationv1.BatchCreateGenerationsRequest{
			ImageIds: images, Template: &generationv1.CreateGenerationRequest{LookId: lookID, RequestId: requestID, ImageId: "ignored"},
		})
	}
	var refused []string
	t.Run("refused_for_credits_holds_nothing", func(t *testing.T) {
		_, err := batch("batch-1")
		if code(err) != codes.FailedPrecondition || reason(err) != "INSUFFICIENT_CREDITS" {
			t.Fatalf("%v (reason %q), want FailedPrecondition INSUFFICIENT_CREDITS", err, reason(err))
		}
		if e.billing.credits("alice") != 5 {
			t.Fatalf("balance %d after a refused batch, want 5", e.billing.credits("alice"))
		}
		list, err := e.client.ListGenerations(alice, &generationv1.ListGenerationsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range list.GetJobs() {
			if j.GetState() != generationv1.JobState_JOB_STATE_CANCELED || j.GetCredits().GetReleased() != 2 {
				t.Errorf("job of the refused batch: state %v, released %d", j.GetState(), j.GetCredits().GetReleased())
			}
			refused = append(refused, j.GetId())
		}
		if len(refused) != 2 {
			t.Fatalf("%d jobs left by the refused batch, want the 2 created before the refusal", len(refused))
		}
	})

	t.Run("retry_after_top_up_is_a_new_round", func(t *testing.T) {
		e.billing.mu.Lock()
		e.billing.balance["alice"] = 7
		e.billing.mu.Unlock()
		resp, err := batch("batch-1")
		if err != nil {
			t.Fatal(err)
		}
		jobs := resp.GetJobs()
		if len(jobs) != 3 {
			t.Fatalf("%d jobs, want 3", len(jobs))
		}
		for i, j := range jobs {
			if j.GetImageId() != images[i] || j.GetState() != generationv1.JobState_JOB_STATE_QUEUED || j.GetSceneId() != "light-wood" ||
				j.GetVariants() != 2 || j.GetSeed() != 99 || j.GetLookId() != lookID {
				t.Errorf("job %d: %v", i, j)
			}
			for _, r := range refused {
				if j.GetId() == r {
					t.Errorf("job %d reuses the cancelled job %s", i, r)
				}
			}
		}
		if e.billing.credits("alice") != 1 {
			t.Fatalf("balance %d, want 1", e.billing.credits("alice"))
		}

		again, err := batch("batch-1")
		if err != nil {
			t.Fatal(err)
		}
		for i, j := range again.GetJobs() {
			if j.GetId() != jobs[i].GetId() {
				t.Errorf("replay job %d is %s, want %s", i, j.GetId(), jobs[i].GetId())
			}
		}
		if e.billing.credits("alice") != 1 {
			t.Fatalf("a replayed batch charged again: balance %d", e.billing.credits("alice"))
		}
	})

	t.Run("batches_without_request_id", func(t *testing.T) {
		e.billing.mu.Lock()
		e.billing.balance["alice"] = 4
		e.billing.mu.Unlock()
		req := &generationv1.BatchCreateGenerationsRequest{
			ImageIds: []string{"x", "y"}, Template: &generationv1.CreateGenerationRequest{SceneId: "marble", Variants: 2},
		}
		first, err := e.client.BatchCreateGenerations(alice, req)
		if err != nil || len(first.GetJobs()) != 2 || e.billing.credits("alice") != 0 {
			t.Fatalf("first: %d jobs, %v, balance %d", len(first.GetJobs()), err, e.billing.credits("alice"))
		}
		if _, err := e.client.BatchCreateGenerations(alice, req); code(err) != codes.FailedPrecondition {
			t.Fatalf("second without credits: %v", err)
		}
	})
}
