package app_test

import (
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	"github.com/connectengine/photoshoot/services/account/internal/app"
	"github.com/connectengine/photoshoot/services/account/internal/mail/mailtest"
)

// TestMail_sentOnceWhenTheSendIsCutBeforeTheMark: the provider takes the
// mail but the connection dies before the answer, so the consumer's
// transaction (the mark) rolls back and the message is redelivered; the
// retry carries the same idempotency key and the provider delivers nothing
// new. Outside dev mode the dev mailbox is not served.
func TestMail_sentOnceWhenTheSendIsCutBeforeTheMark(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	resend := mailtest.NewResendServer(t)
	resend.DropNext(1)
	r := e.start(func(c *app.Config) {
		c.DevMode, c.ResendAPIKey, c.ResendBaseURL = false, resend.APIKey, resend.URL
	})
	if _, err := r.client.CreateMagicLink(t.Context(), &accountv1.CreateMagicLinkRequest{Email: "once@example.com"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mail to be marked sent", func() bool { return e.count(t, "SELECT count(*) FROM sent_mails") == 1 })
	if reqs := resend.Requests(); reqs < 2 {
		t.Errorf("provider saw %d requests, want the cut one and a retry", reqs)
	}
	got := resend.Delivered()
	if len(got) != 1 || got[0].To != "once@example.com" || !strings.Contains(got[0].Text, "http://studio.test/auth/confirm#token=") {
		t.Fatalf("delivered %+v, want one sign-in mail", got)
	}
	var mailID string
	if err := e.db.QueryRow(t.Context(), "SELECT mail_id::text FROM sent_mails").Scan(&mailID); err != nil {
		t.Fatal(err)
	}
	if got[0].ID != mailID {
		t.Errorf("idempotency key %q, want the mail id %q", got[0].ID, mailID)
	}
	_, err := r.client.ListDevMail(t.Context(), &accountv1.ListDevMailRequest{})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestAdmin_auditedAndRestricted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	admin, adminAccess := r.signIn(t, adminEmail)
	if !admin.GetUser().GetAdmin() {
		t.Fatal("configured admin is not admin")
	}
	seller, sellerAccess := r.signIn(t, "seller@example.com")

	_, err := r.client.AdminGetUser(asUser(t.Context(), sellerAccess), &accountv1.AdminGetUserRequest{UserId: admin.GetUser().GetId()})
	wantCode(t, err, codes.PermissionDenied)
	_, err = r.client.AdminGrantCredits(asUser(t.Context(), sellerAccess), &accountv1.AdminGrantCreditsRequest{UserId: seller.GetUser().GetId(), Credits: 100, Reason: "me"})
	wantCode(t, err, codes.PermissionDenied)

	byEmail, err := r.client.AdminGetUser(asUser(t.Context(), adminAccess), &accountv1.AdminGetUserRequest{Email: "Seller@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if byEmail.GetUser().GetId() != seller.GetUser().GetId() {
		t.Errorf("lookup by email = %v", byEmail.GetUser())
	}
	_, err = r.client.AdminGetUser(asUser(t.Context(), adminAccess), &accountv1.AdminGetUserRequest{UserId: "0190c0de-0000-7000-8000-000000000000"})
	wantCode(t, err, codes.NotFound)

	ctx := metadata.AppendToOutgoingContext(asUser(t.Context(), adminAccess), "idempotency-key", "req-42")
	resp, err := r.client.AdminGrantCredits(ctx, &accountv1.AdminGrantCreditsRequest{UserId: seller.GetUser().GetId(), Credits: 25, Reason: "support goodwill"})
	if err != nil {
		t.Fatal(err)
	}
	grants := e.peers.Grants()
	if len(grants) != 1 {
		t.Fatalf("billing grants = %d", len(grants))
	}
	g := grants[0]
	if g.GetReason() != billingv1.GrantReason_GRANT_REASON_ADMIN || g.GetAmount() != 25 || g.GetUserId() != seller.GetUser().GetId() ||
		!strings.HasSuffix(g.GetIdempotencyKey(), ":req-42") || resp.GetTransactionId() != "tx-"+g.GetIdempotencyKey() {
		t.Errorf("grant = %v, response %v", g, resp)
	}
	_, err = r.client.AdminGrantCredits(asUser(t.Context(), adminAccess), &accountv1.AdminGrantCreditsRequest{UserId: seller.GetUser().GetId(), Credits: 0})
	wantCode(t, err, codes.InvalidArgument)

	_, err = r.client.AdminListUserJobs(asUser(t.Context(), sellerAccess), &accountv1.AdminListUserJobsRequest{UserId: seller.GetUser().GetId()})
	wantCode(t, err, codes.PermissionDenied)
	jobs, err := r.client.AdminListUserJobs(asUser(t.Context(), adminAccess), &accountv1.AdminListUserJobsRequest{UserId: seller.GetUser().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got := jobs.GetJobs(); len(got) != 2 || got[0].GetId() != "job-new-"+seller.GetUser().GetId() {
		t.Errorf("admin's view of the seller's jobs = %v, want the seller's two, newest first", got)
	}

	// Every admin call, refused or not, left an audit row; none can change.
	if got := e.count(t, "SELECT count(*) FROM admin_audit"); got != 8 {
		t.Errorf("audit rows = %d, want 8", got)
	}
	if got := e.count(t, "SELECT count(*) FROM admin_audit WHERE details->>'outcome' = 'permission_denied'"); got != 3 {
		t.Errorf("denied audit rows = %d, want 3", got)
	}
	if got := e.count(t, "SELECT count(*) FROM admin_audit WHERE details::text LIKE '%seller@example.com%'"); got != 0 {
		t.Error("audit log holds a plain email")
	}
	for _, q := range []string{"UPDATE admin_audit SET action = 'x'", "DELETE FROM admin_audit", "TRUNCATE admin_audit"} {
		if _, err := e.db.Exec(t.Context(), q); err == nil {
			t.Errorf("%s succeeded on the audit log", q)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	u, access := r.signIn(t, "dev@example.com")
	_, otherAccess := r.signIn(t, "other@example.com")
	ctx := asUser(t.Context(), access)
	_, err := r.client.CreateApiKey(ctx, &accountv1.CreateApiKeyRequest{Name: " "})
	wantCode(t, err, codes.InvalidArgument)
	created, err := r.client.CreateApiKey(ctx, &accountv1.CreateApiKeyRequest{Name: "shop sync"})
	if err != nil {
		t.Fatal(err)
	}
	secret := created.GetSecret()
	if !strings.HasPrefix(secret, "ps_") || len(secret) != 3+43 || !strings.HasPrefix(secret, created.GetApiKey().GetPrefix()) {
		t.Fatalf("secret %q prefix %q", secret, created.GetApiKey().GetPrefix())
	}
	if got := e.count(t, "SELECT count(*) FROM api_keys WHERE secret_hash = convert_to($1, 'UTF8')", secret); got != 0 {
		t.Error("secret stored in clear")
	}
	auth, err := r.client.Authenticate(t.Context(), &accountv1.AuthenticateRequest{Credential: &accountv1.AuthenticateRequest_ApiKey{ApiKey: secret}})
	if err != nil {
		t.Fatal(err)
	}
	if auth.GetUserId() != u.GetUser().GetId() || auth.GetSessionId() != "" {
		t.Errorf("authenticate = %v", auth)
	}
	list, err := r.client.ListApiKeys(ctx, &accountv1.ListApiKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetApiKeys()) != 1 || list.GetApiKeys()[0].GetLastUsedTime() == nil || list.GetApiKeys()[0].GetName() != "shop sync" {
		t.Errorf("list = %v", list)
	}
	_, err = r.client.RevokeApiKey(asUser(t.Context(), otherAccess), &accountv1.RevokeApiKeyRequest{ApiKeyId: created.GetApiKey().GetId()})
	wantCode(t, err, codes.NotFound)
	if _, err := r.client.RevokeApiKey(ctx, &accountv1.RevokeApiKeyRequest{ApiKeyId: created.GetApiKey().GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = r.client.Authenticate(t.Context(), &accountv1.AuthenticateRequest{Credential: &accountv1.AuthenticateRequest_ApiKey{ApiKey: secret}})
	wantCode(t, err, codes.Unauthenticated)
	_, err = r.client.Authenticate(t.Context(), &accountv1.AuthenticateRequest{})
	wantCode(t, err, codes.InvalidArgument)
}

func TestUpdateMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	_, access := r.signIn(t, "prefs@example.com")
	ctx := asUser(t.Context(), access)
	resp, err := r.client.UpdateMe(ctx, &accountv1.UpdateMeRequest{
		User: &accountv1.User{DisplayName: "Ann's Shop", Email: "ignored@example.com", Preferences: &accountv1.Preferences{
			DefaultAspectRatio: "4:5", DefaultSize: "2K", AnalyticsConsent: true, DefaultSceneId: "marble-kitchen"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "preferences.default_aspect_ratio",
			"preferences.default_size", "preferences.analytics_consent", "preferences.default_scene_id"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := resp.GetUser()
	p := u.GetPreferences()
	if u.GetDisplayName() != "Ann's Shop" || u.GetEmail() != "prefs@example.com" || p.GetDefaultAspectRatio() != "4:5" ||
		p.GetDefaultSize() != "2K" || !p.GetAnalyticsConsent() || !p.GetEmailNotifications() || p.GetDefaultSceneId() != "marble-kitchen" {
		t.Errorf("after update: %v", u)
	}
	_, err = r.client.UpdateMe(ctx, &accountv1.UpdateMeRequest{
		User:       &accountv1.User{Preferences: &accountv1.Preferences{DefaultAspectRatio: "7:3", DefaultSize: "8K"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"preferences.default_aspect_ratio", "preferences.default_size", "email"}},
	})
	wantCode(t, err, codes.InvalidArgument)
	fields := map[string]bool{}
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields[v.GetField()] = true
			}
		}
	}
	for _, f := range []string{"user.preferences.default_aspect_ratio", "user.preferences.default_size", "update_mask"} {
		if !fields[f] {
			t.Errorf("no violation for %s (got %v)", f, fields)
		}
	}
	_, err = r.client.UpdateMe(ctx, &accountv1.UpdateMeRequest{User: &accountv1.User{DisplayName: "x"}})
	wantCode(t, err, codes.InvalidArgument)
	me, err := r.client.GetMe(ctx, &accountv1.GetMeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if me.GetUser().GetPreferences().GetDefaultSize() != "2K" {
		t.Error("a rejected update changed the profile")
	}
}

func TestContact(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	ctx := fromIP(t.Context(), "192.0.2.50")
	if _, err := r.client.CreateContactMessage(ctx, &accountv1.CreateContactMessageRequest{Name: "Bot", Email: "bot@example.com", Message: "buy", Website: "http://spam.example"}); err != nil {
		t.Fatalf("honeypot: %v", err)
	}
	if got := e.count(t, "SELECT count(*) FROM contact_messages"); got != 0 {
		t.Errorf("honeypot stored %d messages", got)
	}
	_, err := r.client.CreateContactMessage(ctx, &accountv1.CreateContactMessageRequest{Name: "Ann", Email: "ann@example.com", Message: strings.Repeat("x", 5001)})
	wantCode(t, err, codes.InvalidArgument)
	if _, err := r.client.CreateContactMessage(ctx, &accountv1.CreateContactMessageRequest{Name: "Ann", Email: "ann@example.com", Message: "Where is my export?"}); err != nil {
		t.Fatal(err)
	}
	support := r.waitMail(t, "support@example.com", "Contact form: Ann")
	if !strings.Contains(support.GetTextBody(), "Where is my export?") {
		t.Errorf("support mail: %v", support)
	}
	r.waitMail(t, "ann@example.com", "We received your message")
	for range 4 {
		if _, err := r.client.CreateContactMessage(ctx, &accountv1.CreateContactMessageRequest{Name: "Ann", Email: "ann2@example.com", Message: "again"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = r.client.CreateContactMessage(ctx, &accountv1.CreateContactMessageRequest{Name: "Ann", Email: "ann3@example.com", Message: "again"})
	wantCode(t, err, codes.ResourceExhausted)
	retryAfter(t, err)
}
