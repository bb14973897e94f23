package app_test

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/pkg/events"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/account/internal/app"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

// TestDeleteMe_completesAfterEveryServiceConfirms: the four purge
// confirmations are simulated by publishing UserDataPurged in the test.
func TestDeleteMe_completesAfterEveryServiceConfirms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	_, adminAccess := r.signIn(t, adminEmail)
	s1, access := r.signIn(t, "leaving@example.com")
	s2, _ := r.signIn(t, "leaving@example.com")
	ctx := asUser(t.Context(), access)
	if _, err := r.client.CreateContactMessage(ctx, &accountv1.CreateContactMessageRequest{Name: "Leaving", Email: "leaving@example.com", Message: "bye"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.CreateApiKey(ctx, &accountv1.CreateApiKeyRequest{Name: "ci"}); err != nil {
		t.Fatal(err)
	}

	_, err := r.client.DeleteMe(ctx, &accountv1.DeleteMeRequest{Confirmation: "delete my acount"})
	wantCode(t, err, codes.InvalidArgument)
	resp, err := r.client.DeleteMe(ctx, &accountv1.DeleteMeRequest{Confirmation: identity.DeleteConfirmation})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetUser().GetState() != accountv1.UserState_USER_STATE_DELETING {
		t.Fatalf("state = %v, want deleting", resp.GetUser().GetState())
	}
	userID := resp.GetUser().GetId()
	for _, tok := range []string{s1.GetSessionToken(), s2.GetSessionToken()} {
		_, err := r.client.Authenticate(t.Context(), sessionCred(tok))
		wantCode(t, err, codes.Unauthenticated)
	}
	if got := e.count(t, "SELECT count(*) FROM api_keys WHERE user_id = $1", userID); got != 0 {
		t.Errorf("api keys left: %d", got)
	}
	var deletionID string
	if err := e.db.QueryRow(t.Context(), "SELECT id::text FROM deletions WHERE user_id = $1", userID).Scan(&deletionID); err != nil {
		t.Fatal(err)
	}
	if got := e.count(t, "SELECT count(*) FROM outbox WHERE subject = $1 AND id = $2", events.SubjectUserDeleted, deletionID); got != 1 {
		t.Errorf("UserDeleted events = %d", got)
	}
	// A link for the deleting account cannot sign in.
	tok := r.requestLink(t, "leaving@example.com")
	_, err = r.client.CreateSession(t.Context(), &accountv1.CreateSessionRequest{Token: tok})
	wantCode(t, err, codes.FailedPrecondition)

	lookup := func() *accountv1.User {
		resp, err := r.client.AdminGetUser(asUser(t.Context(), adminAccess), &accountv1.AdminGetUserRequest{UserId: userID})
		if err != nil {
			t.Fatalf("AdminGetUser: %v", err)
		}
		return resp.GetUser()
	}
	nc, err := nats.Connect(e.nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(subject, service string) {
		data, err := proto.Marshal(&eventsv1.UserDataPurged{UserId: userID, DeletionId: deletionID, Service: service, PurgeTime: timestamppb.Now()})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "publish "+subject, func() bool {
			_, err := js.Publish(t.Context(), subject, data, jetstream.WithMsgID(service+":"+deletionID))
			return err == nil
		})
	}
	publish(events.SubjectBillingUserPurged, "billing")
	publish(events.SubjectMediaUserPurged, "media")
	publish(events.SubjectAnalysisUserPurged, "analysis")
	eventually(t, "three confirmations", func() bool {
		return e.count(t, "SELECT count(*) FROM deletion_confirmations WHERE deletion_id = $1", deletionID) == 3
	})
	if u := lookup(); u.GetState() != accountv1.UserState_USER_STATE_DELETING {
		t.Fatalf("after three confirmations: %v", u.GetState())
	}
	publish(events.SubjectGenerationUserPurged, "generation")
	eventually(t, "deleted state", func() bool { return lookup().GetState() == accountv1.UserState_USER_STATE_DELETED })

	u := lookup()
	if u.GetEmail() != "" || u.GetDisplayName() != "" {
		t.Errorf("deleted user still shows %q %q", u.GetEmail(), u.GetDisplayName())
	}
	for q, want := range map[string]int{
		"SELECT count(*) FROM users WHERE email = 'leaving@example.com'":            0,
		"SELECT count(*) FROM magic_links WHERE email = 'leaving@example.com'":      0,
		"SELECT count(*) FROM contact_messages WHERE email = 'leaving@example.com'": 0,
		"SELECT count(*) FROM sessions WHERE user_id = '" + userID + "'":            0,
		"SELECT count(*) FROM deletions WHERE completed_at IS NOT NULL":             1,
	} {
		if got := e.count(t, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	r.waitMail(t, "leaving@example.com", "has been deleted")
	// The address is free again: signing in makes a new account.
	again, _ := r.signIn(t, "leaving@example.com")
	if again.GetUser().GetId() == userID {
		t.Error("deleted account came back")
	}
}

func TestExport_failsWhileAServiceCannotExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	_, access := r.signIn(t, "exporter@example.com")
	ctx := asUser(t.Context(), access)
	resp, err := r.client.ExportMe(ctx, &accountv1.ExportMeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got *accountv1.Export
	eventually(t, "export to finish", func() bool {
		g, err := r.client.GetExport(ctx, &accountv1.GetExportRequest{ExportId: resp.GetExport().GetId()})
		if err != nil {
			t.Fatal(err)
		}
		got = g.GetExport()
		return got.GetState() == accountv1.ExportState_EXPORT_STATE_FAILED || got.GetState() == accountv1.ExportState_EXPORT_STATE_SUCCEEDED
	})
	if got.GetState() != accountv1.ExportState_EXPORT_STATE_FAILED || got.GetDownloadUrl() != "" {
		t.Fatalf("export = %v, want failed (analysis is Unimplemented)", got)
	}
	var reason string
	if err := e.db.QueryRow(t.Context(), "SELECT failure_reason FROM exports WHERE id = $1", got.GetId()).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reason, "analysis.json") || !strings.Contains(reason, "Unimplemented") {
		t.Errorf("failure reason %q does not name analysis", reason)
	}
}

func TestExport_assemblesZipStoresAndMails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	r := e.start(func(c *app.Config) { c.ExportSweepEvery = 50 * time.Millisecond })
	signedIn, access := r.signIn(t, "exporter@example.com")
	ctx := asUser(t.Context(), access)
	resp, err := r.client.ExportMe(ctx, &accountv1.ExportMeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if s := resp.GetExport().GetState(); s != accountv1.ExportState_EXPORT_STATE_PENDING && s != accountv1.ExportState_EXPORT_STATE_RUNNING {
		t.Errorf("new export state %v", s)
	}
	var got *accountv1.Export
	eventually(t, "export to finish", func() bool {
		g, err := r.client.GetExport(ctx, &accountv1.GetExportRequest{ExportId: resp.GetExport().GetId()})
		if err != nil {
			t.Fatal(err)
		}
		got = g.GetExport()
		return got.GetState() == accountv1.ExportState_EXPORT_STATE_SUCCEEDED || got.GetState() == accountv1.ExportState_EXPORT_STATE_FAILED
	})
	if got.GetState() != accountv1.ExportState_EXPORT_STATE_SUCCEEDED {
		t.Fatalf("export = %v", got)
	}
	if got.GetDownloadUrl() != "http://studio.test/v1/images/img-export-zip/content" || got.GetSizeBytes() <= 0 {
		t.Errorf("export = %v", got)
	}
	data, meta := e.peers.Stored()
	if meta.GetUserId() != signedIn.GetUser().GetId() || meta.GetKind() != mediav1.ImageKind_IMAGE_KIND_EXPORT {
		t.Errorf("stored as %v", meta)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = string(b)
	}
	for _, name := range []string{"account.json", "billing.json", "media.json", "analysis.json", "generation.json"} {
		if _, ok := files[name]; !ok {
			t.Errorf("zip lacks %s (has %v)", name, keys(files))
		}
	}
	if !strings.Contains(files["account.json"], "exporter@example.com") || !strings.Contains(files["billing.json"], "tx-trial") {
		t.Errorf("account.json / billing.json content wrong:\n%s\n%s", files["account.json"], files["billing.json"])
	}
	if files["images/uploads/img-upload.jpg"] != "\xff\xd8\xffupload-bytes" || files["images/generated/img-generated.png"] != "\x89PNGgenerated-bytes" {
		t.Errorf("image files wrong: %v", keys(files))
	}
	if _, ok := files["images/uploads/img-old-export.zip"]; ok {
		t.Error("an earlier export was included")
	}
	link := r.mailLink(t, "exporter@example.com", "export is ready", 0)
	if link != got.GetDownloadUrl() {
		t.Errorf("mailed link %q, want %q", link, got.GetDownloadUrl())
	}
	if exp := got.GetExpireTime().AsTime(); exp.Sub(got.GetCompleteTime().AsTime()) != 7*24*time.Hour {
		t.Errorf("export expires %v after it completed, want 7 days", exp.Sub(got.GetCompleteTime().AsTime()))
	}
	// Another user cannot read the export.
	_, otherAccess := r.signIn(t, "other@example.com")
	_, err = r.client.GetExport(asUser(t.Context(), otherAccess), &accountv1.GetExportRequest{ExportId: got.GetId()})
	wantCode(t, err, codes.NotFound)

	// After its retention the zip is deleted from media, as its owner, and
	// the export says it expired.
	if _, gone := e.peers.Deleted("img-export-zip"); gone {
		t.Fatal("the zip was deleted before it expired")
	}
	e.clock.Advance(7*24*time.Hour + time.Minute)
	eventually(t, "export to expire", func() bool {
		g, err := r.client.GetExport(ctx, &accountv1.GetExportRequest{ExportId: got.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		return g.GetExport().GetState() == accountv1.ExportState_EXPORT_STATE_EXPIRED && g.GetExport().GetDownloadUrl() == ""
	})
	if by, gone := e.peers.Deleted("img-export-zip"); !gone || by != signedIn.GetUser().GetId() {
		t.Fatalf("zip deleted %v by %q, want deleted as %q", gone, by, signedIn.GetUser().GetId())
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
