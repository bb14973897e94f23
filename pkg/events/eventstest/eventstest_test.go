package eventstest_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectengine/photoshoot/pkg/events/eventstest"
)

func TestRestartKeepsStreamsAndPort(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Now()
	srv := eventstest.New(t)
	t.Logf("server ready in %s", time.Since(start))
	url := srv.URL()

	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "keep.one", []byte("1")); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	srv.Stop() // idempotent
	srv.Restart(t)
	if srv.URL() != url {
		t.Errorf("URL changed across restart: %s -> %s", url, srv.URL())
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		stream, err := js.Stream(ctx, "KEEP")
		if err == nil {
			info, err := stream.Info(ctx)
			if err == nil && info.State.Msgs == 1 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream or message lost across restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
