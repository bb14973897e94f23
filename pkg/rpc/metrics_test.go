package rpc_test

import (
	"context"
	"maps"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/rpc"
)

// callCounts reads the histogram name from reader as counts by
// "rpc.method status".
func callCounts(t *testing.T, reader *sdkmetric.ManualReader, name string) map[string]uint64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				t.Fatalf("%s is %T, want a float64 histogram", name, m.Data)
			}
			for _, dp := range h.DataPoints {
				method, _ := dp.Attributes.Value("rpc.method")
				code, _ := dp.Attributes.Value("rpc.response.status_code")
				got[method.AsString()+" "+code.AsString()] += dp.Count
			}
		}
	}
	return got
}

// TestMetrics_per_method_and_status checks that the stats handlers record
// into the meter providers passed in, one duration histogram per method and
// status code on each side, which is what RPC rate, latency and error
// dashboards are built from.
func TestMetrics_per_method_and_status(t *testing.T) {
	t.Parallel()
	serverReader, clientReader := sdkmetric.NewManualReader(), sdkmetric.NewManualReader()
	serverMP := sdkmetric.NewMeterProvider(sdkmetric.WithReader(serverReader))
	clientMP := sdkmetric.NewMeterProvider(sdkmetric.WithReader(clientReader))
	t.Cleanup(func() { _ = serverMP.Shutdown(context.Background()); _ = clientMP.Shutdown(context.Background()) })

	e := newEnv(t, func(_ context.Context, method string) error {
		if method == mInternal {
			return apperr.NotFound("nothing here")
		}
		return nil
	}, func(o *rpc.ServerOptions) { o.MeterProvider = serverMP })
	conn := e.dial(t, rpc.ClientOptions{Service: e.services, MeterProvider: clientMP})

	for range 2 {
		if _, err := call(t.Context(), conn, mOpen); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := call(t.Context(), conn, mInternal); status.Code(err) != codes.NotFound {
		t.Fatalf("Internal: %v, want NotFound", err)
	}

	open, internal := serviceName+"/Open", serviceName+"/Internal"
	want := map[string]uint64{open + " OK": 2, internal + " NOT_FOUND": 1}
	for side, reader := range map[string]*sdkmetric.ManualReader{
		"rpc.server.call.duration": serverReader,
		"rpc.client.call.duration": clientReader,
	} {
		// The server's stats handler records a call when it ends, which
		// can be just after the client has its answer: wait for it.
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := callCounts(t, reader, side)
			if maps.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s = %v, want %v", side, got, want)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
