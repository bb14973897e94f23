package events_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
)

var allSubjects = []string{
	events.SubjectUserCreated, events.SubjectUserDeleted, events.SubjectMailRequested, events.SubjectExportRequested,
	events.SubjectCreditsGranted, events.SubjectBillingUserPurged,
	events.SubjectImageUploaded, events.SubjectImageDeleted, events.SubjectMediaUserPurged,
	events.SubjectAnalysisCompleted, events.SubjectAnalysisUserPurged,
	events.SubjectJobStarted, events.SubjectJobCompleted, events.SubjectJobFailed, events.SubjectGenerationUserPurged,
	events.SubjectJobRequested,
}

// TestStreamsCoverEverySubjectOnce checks the stream layout without a server:
// every subject is in exactly one stream, and no two streams' subjects
// overlap, wildcards included.
func TestStreamsCoverEverySubjectOnce(t *testing.T) {
	t.Parallel()
	streams := events.Streams()
	owner := map[string]string{}
	for _, s := range streams {
		for _, subj := range s.Subjects {
			for other, name := range owner {
				if name != s.Name && overlap(subj, other) {
					t.Errorf("%s (%s) overlaps %s (%s)", subj, s.Name, other, name)
				}
			}
			owner[subj] = s.Name
		}
		if s.Duplicates != 2*time.Minute || s.Storage != jetstream.FileStorage {
			t.Errorf("%s: duplicates %s, storage %s; want 2m0s, file", s.Name, s.Duplicates, s.Storage)
		}
	}
	for _, subj := range allSubjects {
		if owner[subj] == "" {
			t.Errorf("subject %s is in no stream", subj)
		}
		if tokens := strings.Split(subj, "."); len(tokens) != 4 || tokens[0] != "photoshoot" {
			t.Errorf("subject %s is not photoshoot.<service>.<entity>.<verb>", subj)
		}
		if service := strings.Split(subj, ".")[1]; !strings.HasPrefix(owner[subj], strings.ToUpper(service)) {
			t.Errorf("subject %s is in stream %s, not its service's", subj, owner[subj])
		}
	}
	byName := map[string]jetstream.StreamConfig{}
	for _, s := range streams {
		byName[s.Name] = s
	}
	work := byName[events.StreamGenerationWork]
	if work.Retention != jetstream.WorkQueuePolicy || !slices.Equal(work.Subjects, []string{events.SubjectJobRequested}) {
		t.Errorf("work queue stream = %+v", work)
	}
	if got := owner[events.SubjectJobRequested]; got != events.StreamGenerationWork {
		t.Errorf("job requests go to %s", got)
	}
	dl := byName[events.StreamDeadLetter]
	if len(dl.Subjects) != 1 || !overlap(dl.Subjects[0], events.DeadLetterSubject("media-image-uploaded")) {
		t.Errorf("dead-letter stream %v does not hold DeadLetterSubject", dl.Subjects)
	}
	for _, name := range []string{events.StreamAccount, events.StreamBilling, events.StreamMedia, events.StreamAnalysis, events.StreamGeneration} {
		if byName[name].Retention != jetstream.LimitsPolicy {
			t.Errorf("%s retention = %s, want limits", name, byName[name].Retention)
		}
	}
}

// overlap reports whether two subjects (with * and > wildcards) can match
// a common subject.
func overlap(a, b string) bool {
	ta, tb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(ta) && i < len(tb); i++ {
		if ta[i] == ">" || tb[i] == ">" {
			return true
		}
		if ta[i] != tb[i] && ta[i] != "*" && tb[i] != "*" {
			return false
		}
	}
	return len(ta) == len(tb)
}

// TestEnsureStreamsIsIdempotent lets the real server judge the layout too:
// it rejects overlapping subjects.
func TestEnsureStreamsIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := eventstest.New(t)
	nc, err := events.Connect(srv.URL(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := events.EnsureStreams(t.Context(), js, 1); err != nil {
			t.Fatalf("EnsureStreams: %v", err)
		}
	}
	var names []string
	for name := range js.StreamNames(t.Context()).Name() {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"ACCOUNT", "ANALYSIS", "BILLING", "DEADLETTER", "GENERATION", "GENERATION_WORK", "MEDIA"}
	if !slices.Equal(names, want) {
		t.Errorf("streams = %v, want %v", names, want)
	}

	// A stream whose configuration drifted is brought back to it.
	st, err := js.Stream(t.Context(), events.StreamMedia)
	if err != nil {
		t.Fatal(err)
	}
	drifted := st.CachedInfo().Config
	drifted.MaxAge = time.Hour
	if _, err := js.UpdateStream(t.Context(), drifted); err != nil {
		t.Fatal(err)
	}
	if err := events.EnsureStreams(t.Context(), js, 1); err != nil {
		t.Fatal(err)
	}
	if st, err = js.Stream(t.Context(), events.StreamMedia); err != nil || st.CachedInfo().Config.MaxAge == time.Hour {
		t.Errorf("drifted MEDIA stream not restored: max age %v (%v)", st.CachedInfo().Config.MaxAge, err)
	}
}

// TestConnectWhileServerDown starts a client while NATS is down: Connect
// must succeed and the connection come up once the server does.
func TestConnectWhileServerDown(t *testing.T) {
	t.Parallel()
	srv := eventstest.New(t)
	srv.Stop()
	nc, err := events.Connect(srv.URL(), "early-bird", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Connect with NATS down: %v", err)
	}
	t.Cleanup(nc.Close)
	if nc.IsConnected() {
		t.Fatal("connected to a stopped server")
	}
	srv.Restart(t)
	eventually(t, 10*time.Second, "the connection to come up", nc.IsConnected)
	srv.Stop()
	eventually(t, 10*time.Second, "the disconnect to be noticed", func() bool { return !nc.IsConnected() })
	srv.Restart(t)
	eventually(t, 10*time.Second, "the reconnect", nc.IsConnected)
}
