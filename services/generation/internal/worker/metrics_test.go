package worker_test

import (
	"fmt"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/pipeline"
	"github.com/connectengine/photoshoot/services/generation/internal/worker"
)

// TestMetricsRecordOutcomes: a job that succeeds and one the provider
// rejects show up as job durations by outcome, one provider error of the
// right class, two attempts, and a queue depth back at zero.
func TestMetricsRecordOutcomes(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2*time.Second)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(t.Context()) })
	m, err := worker.NewMetrics(mp, r.js, "test-model")
	if err != nil {
		t.Fatal(err)
	}
	r.metrics = m
	r.ledger.balance["u"] = 10
	r.model.fail = func(s pipeline.Spec) ([]pipeline.Output, error) {
		if s.SceneID == "linen" {
			return nil, fmt.Errorf("generate: %w", imagemodel.ErrRejected)
		}
		return nil, nil
	}
	r.startWorker(1)
	ok := r.create(t, "u", spec(r.upload("u"), 1))
	bad := spec(r.upload("u"), 1)
	bad.SceneID = "linen"
	rejected := r.create(t, "u", bad)
	r.waitEnded(t, "u", []string{ok.ID, rejected.ID}, time.Minute)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					outcome, _ := p.Attributes.Value("outcome")
					got[mt.Name+"/"+outcome.AsString()] += int64(p.Count)
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					class, _ := p.Attributes.Value("class")
					got[mt.Name+"/"+class.AsString()] += p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					got[mt.Name] = p.Value
				}
			}
		}
	}
	for key, want := range map[string]int64{
		"photoshoot.generation.job.duration/" + string(job.Succeeded): 1,
		"photoshoot.generation.job.duration/" + string(job.Failed):    1,
		"photoshoot.generation.provider.errors/provider_rejected":     1,
		"photoshoot.generation.attempts/":                             2,
		"photoshoot.generation.queue.depth":                           0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %d (recorded %v), want %d; all: %v", key, v, ok, want, got)
		}
	}
}
