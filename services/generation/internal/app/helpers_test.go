package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// fieldViolations lists the fields a status's BadRequest names.
func fieldViolations(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

// names reports whether err's BadRequest names field.
func names(err error, field string) bool { return slices.Contains(fieldViolations(err), field) }

// reason is a status's ErrorInfo reason.
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// publish puts an event on JetStream the way the outbox relay does, waiting
// for the service to have created the streams.
func publish(t *testing.T, js jetstream.JetStream, subject, id string, payload proto.Message) {
	t.Helper()
	data, err := proto.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := js.Publish(t.Context(), subject, data, jetstream.WithMsgID(id))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: %v", subject, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval: the streams are being created
	}
}

// waitEvent reads subject on stream from the start until done accepts the
// event decoded into dst.
func waitEvent(t *testing.T, js jetstream.JetStream, stream, subject string, dst proto.Message, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var cons jetstream.Consumer
	for cons == nil {
		var err error
		cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("consumer on %s: %v", subject, err)
			}
			time.Sleep(50 * time.Millisecond) // polling interval: the streams are being created
			cons = nil
		}
	}
	for {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("no matching %s event: %v", subject, err)
		}
		if err := proto.Unmarshal(msg.Data(), dst); err != nil {
			t.Fatal(err)
		}
		if done() {
			return
		}
	}
}

// eventually polls cond until it holds or 30 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an outcome
	}
}
