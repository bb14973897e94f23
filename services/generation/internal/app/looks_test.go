package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectengine/photoshoot/pkg/authn"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
)

func TestLooksComponent(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.billing.balance["alice"] = 20
	alice, bob := e.as(t, "alice"), e.as(t, "bob")

	created, err := e.client.CreateLook(alice, &generationv1.CreateLookRequest{Look: &generationv1.Look{
		Name: "  Spring catalogue ", SceneId: "marble", Marketplace: "etsy", Seed: 42,
	}})
	if err != nil {
		t.Fatal(err)
	}
	look := created.GetLook()
	if look.GetId() == "" || look.GetName() != "Spring catalogue" || look.GetVariants() != 1 || look.GetAspectRatio() != "1:1" ||
		look.GetSize() != "1K" || look.GetSeed() != 42 || look.GetCreateTime() == nil {
		t.Fatalf("created look %v: want the name trimmed and the request defaults", look)
	}

	t.Run("invalid_looks_name_their_fields", func(t *testing.T) {
		for field, l := range map[string]*generationv1.Look{
			"look.name":         {SceneId: "marble"},
			"look.scene_id":     {Name: "x", SceneId: "moon"},
			"look.variants":     {Name: "x", SceneId: "marble", Variants: 7},
			"look.aspect_ratio": {Name: "x", SceneId: "marble", AspectRatio: "5:4"},
			"look.marketplace":  {Name: "x", SceneId: "marble", Marketplace: "myspace"},
		} {
			_, err := e.client.CreateLook(alice, &generationv1.CreateLookRequest{Look: l})
			if code(err) != codes.InvalidArgument || !names(err, field) {
				t.Errorf("%s: %v (fields %v)", field, err, fieldViolations(err))
			}
		}
		if _, err := e.client.CreateLook(alice, &generationv1.CreateLookRequest{}); code(err) != codes.InvalidArgument {
			t.Errorf("no look: %v", err)
		}
	})

	t.Run("owner_only", func(t *testing.T) {
		got, err := e.client.GetLook(alice, &generationv1.GetLookRequest{LookId: look.GetId()})
		if err != nil || got.GetLook().GetName() != "Spring catalogue" || !got.GetLook().GetCreateTime().AsTime().Equal(look.GetCreateTime().AsTime()) {
			t.Fatalf("alice get: %v, %v", got.GetLook(), err)
		}
		if _, err := e.client.GetLook(bob, &generationv1.GetLookRequest{LookId: look.GetId()}); code(err) != codes.NotFound {
			t.Errorf("bob get: %v", err)
		}
		if _, err := e.client.UpdateLook(bob, &generationv1.UpdateLookRequest{
			Look: &generationv1.Look{Id: look.GetId(), Name: "mine"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}},
		}); code(err) != codes.NotFound {
			t.Errorf("bob update: %v", err)
		}
		if _, err := e.client.DeleteLook(bob, &generationv1.DeleteLookRequest{LookId: look.GetId()}); code(err) != codes.NotFound {
			t.Errorf("bob delete: %v", err)
		}
		if list, err := e.client.ListLooks(bob, &generationv1.ListLooksRequest{}); err != nil || len(list.GetLooks()) != 0 {
			t.Errorf("bob lists %d looks, %v", len(list.GetLooks()), err)
		}
		if _, err := e.client.GetLook(alice, &generationv1.GetLookRequest{LookId: "not-a-uuid"}); code(err) != codes.NotFound {
			t.Errorf("malformed id: %v", err)
		}
		if _, err := e.client.ListLooks(t.Context(), &generationv1.ListLooksRequest{}); code(err) != codes.Unauthenticated {
			t.Errorf("anonymous list: %v", err)
		}
	})

	t.Run("update_changes_only_the_masked_fields", func(t *testing.T) {
		resp, err := e.client.UpdateLook(alice, &generationv1.UpdateLookRequest{
			Look:       &generationv1.Look{Id: look.GetId(), Name: "Summer", Seed: 7, Size: "4K", SceneId: "moon"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name", "seed", "create_time"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		u := resp.GetLook()
		if u.GetName() != "Summer" || u.GetSeed() != 7 || u.GetSize() != "1K" || u.GetSceneId() != "marble" ||
			!u.GetUpdateTime().AsTime().After(u.GetCreateTime().AsTime()) {
			t.Fatalf("updated look %v", u)
		}
		for name, req := range map[string]*generationv1.UpdateLookRequest{
			"no_mask":      {Look: &generationv1.Look{Id: look.GetId(), Name: "x"}},
			"unknown_path": {Look: &generationv1.Look{Id: look.GetId()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner"}}},
		} {
			if _, err := e.client.UpdateLook(alice, req); code(err) != codes.InvalidArgument || !names(err, "update_mask") {
				t.Errorf("%s: %v (fields %v)", name, err, fieldViolations(err))
			}
		}
		_, err = e.client.UpdateLook(alice, &generationv1.UpdateLookRequest{
			Look: &generationv1.Look{Id: look.GetId(), AspectRatio: "5:4"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"aspect_ratio"}},
		})
		if code(err) != codes.InvalidArgument || !names(err, "look.aspect_ratio") {
			t.Errorf("invalid value: %v (fields %v)", err, fieldViolations(err))
		}
		got, err := e.client.GetLook(alice, &generationv1.GetLookRequest{LookId: look.GetId()})
		if err != nil || got.GetLook().GetAspectRatio() != "1:1" || got.GetLook().GetName() != "Summer" {
			t.Fatalf("after a refused update: %v, %v", got.GetLook(), err)
		}
		look = got.GetLook()
	})

	t.Run("rest_patch_derives_the_mask_from_the_body", func(t *testing.T) {
		// The gateway's generated handler: with no update_mask it derives
		// one from the JSON body's fields, as for account's PATCH /v1/me.
		mux := runtime.NewServeMux()
		if err := generationv1.RegisterGenerationServiceHandlerClient(t.Context(), mux, e.client); err != nil {
			t.Fatal(err)
		}
		tok, err := e.signer.Sign(authn.Caller{UserID: "alice"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		patch := func(body string) (int, map[string]any) {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPatch, "/v1/looks/"+look.GetId(), strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			var out map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			return rec.Code, out
		}
		st, out := patch(`{"name": "Renamed", "aspectRatio": "4:5"}`)
		if st != http.StatusOK {
			t.Fatalf("PATCH: %d %v", st, out)
		}
		got, err := e.client.GetLook(alice, &generationv1.GetLookRequest{LookId: look.GetId()})
		if err != nil || got.GetLook().GetName() != "Renamed" || got.GetLook().GetAspectRatio() != "4:5" ||
			got.GetLook().GetSceneId() != look.GetSceneId() || got.GetLook().GetSeed() != look.GetSeed() {
			t.Fatalf("after PATCH: %v, %v", got.GetLook(), err)
		}
		if st, out := patch(`{"size": "8K"}`); st != http.StatusBadRequest {
			t.Errorf("invalid PATCH: %d %v", st, out)
		}
		look = got.GetLook()
	})

	t.Run("generation_with_a_look", func(t *testing.T) {
		resp, err := e.client.CreateGeneration(alice, &generationv1.CreateGenerationRequest{ImageId: "img-1", LookId: look.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		j := resp.GetJob()
		if j.GetSceneId() != "marble" || j.GetMarketplace() != "etsy" || j.GetSeed() != 7 || j.GetVariants() != 1 ||
			j.GetAspectRatio() != "4:5" || j.GetSize() != "1K" || j.GetLookId() != look.GetId() || !j.GetProductLock() {
			t.Errorf("job from the look: %v", j)
		}
		off := false
		resp, err = e.client.CreateGeneration(alice, &generationv1.CreateGenerationRequest{
			ImageId: "img-1", LookId: look.GetId(), Prompt: "on a beach", Variants: 2, AspectRatio: "16:9", ProductLock: &off,
		})
		if err != nil {
			t.Fatal(err)
		}
		j = resp.GetJob()
		if j.GetSceneId() != "" || j.GetPrompt() != "on a beach" || j.GetVariants() != 2 || j.GetAspectRatio() != "16:9" ||
			j.GetSize() != "1K" || j.GetMarketplace() != "etsy" || j.GetSeed() != 7 || j.GetProductLock() || j.GetCredits().GetReserved() != 2 {
			t.Errorf("explicit fields over the look: %v", j)
		}
		for name, tc := range map[string]struct {
			ctx  context.Context
			user string
			id   string
		}{
			"foreign": {bob, "bob", look.GetId()},
			"unknown": {alice, "alice", "0190b5d6-0000-7000-8000-000000000000"},
		} {
			before := e.billing.credits(tc.user)
			_, err := e.client.CreateGeneration(tc.ctx, &generationv1.CreateGenerationRequest{ImageId: "img-1", LookId: tc.id})
			if code(err) != codes.InvalidArgument || !names(err, "look_id") || e.billing.credits(tc.user) != before {
				t.Errorf("%s look: %v (fields %v)", name, err, fieldViolations(err))
			}
		}
	})

	t.Run("list_pages_with_signed_tokens", func(t *testing.T) {
		if _, err := e.client.CreateLook(alice, &generationv1.CreateLookRequest{Look: &generationv1.Look{Name: "Two", Prompt: "linen"}}); err != nil {
			t.Fatal(err)
		}
		first, err := e.client.ListLooks(alice, &generationv1.ListLooksRequest{PageSize: 1})
		if err != nil || len(first.GetLooks()) != 1 || first.GetLooks()[0].GetName() != "Two" || first.GetNextPageToken() == "" {
			t.Fatalf("first page %v, %v", first, err)
		}
		second, err := e.client.ListLooks(alice, &generationv1.ListLooksRequest{PageSize: 1, PageToken: first.GetNextPageToken()})
		if err != nil || len(second.GetLooks()) != 1 || second.GetLooks()[0].GetId() != look.GetId() || second.GetNextPageToken() != "" {
			t.Fatalf("second page %v, %v", second, err)
		}
		if _, err := e.client.ListLooks(bob, &generationv1.ListLooksRequest{PageToken: first.GetNextPageToken()}); code(err) != codes.InvalidArgument {
			t.Errorf("alice's token for bob: %v", err)
		}
		jobs, err := e.client.ListGenerations(alice, &generationv1.ListGenerationsRequest{PageSize: 1})
		if err != nil || jobs.GetNextPageToken() == "" {
			t.Fatalf("job list %v, %v", jobs, err)
		}
		if _, err := e.client.ListLooks(alice, &generationv1.ListLooksRequest{PageToken: jobs.GetNextPageToken()}); code(err) != codes.InvalidArgument {
			t.Errorf("a job-list token on the look list: %v", err)
		}
	})

	t.Run("delete_keeps_jobs_made_with_it", func(t *testing.T) {
		if _, err := e.client.DeleteLook(alice, &generationv1.DeleteLookRequest{LookId: look.GetId()}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.GetLook(alice, &generationv1.GetLookRequest{LookId: look.GetId()}); code(err) != codes.NotFound {
			t.Errorf("get after delete: %v", err)
		}
		if _, err := e.client.DeleteLook(alice, &generationv1.DeleteLookRequest{LookId: look.GetId()}); code(err) != codes.NotFound {
			t.Errorf("second delete: %v", err)
		}
		list, err := e.client.ListGenerations(alice, &generationv1.ListGenerationsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for _, j := range list.GetJobs() {
			if j.GetLookId() == look.GetId() {
				kept++
			}
		}
		if kept != 2 {
			t.Errorf("%d jobs still name the deleted look, want 2", kept)
		}
	})
}
