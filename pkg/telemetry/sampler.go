package telemetry

import (
	"fmt"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newSampler reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG through
// getenv. The SDK would read them from the process environment itself; an
// explicit sampler overrides that, which keeps the choice testable.
//
// Unset means parentbased_traceidratio: a service follows its caller's
// decision, so a trace is never cut in half, and samples roots by ratio
// (1 unless the argument says otherwise). Unlike the SDK, which falls back to
// a default with a warning, an unknown sampler or a bad ratio is an error:
// a typo should stop the deploy, not silently sample everything.
func newSampler(getenv func(string) string) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(getenv(envTracesSampler)))
	arg := strings.TrimSpace(getenv(envTracesSamplerArg))

	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return 0, fmt.Errorf("%s=%q: %w", envTracesSamplerArg, arg, err)
		}
		if r < 0 || r > 1 {
			return 0, fmt.Errorf("%s=%q: ratio must be within [0, 1]", envTracesSamplerArg, arg)
		}
		return r, nil
	}

	switch name {
	case "", "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	case "traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.TraceIDRatioBased(r), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	default:
		return nil, fmt.Errorf("%s=%q: unsupported sampler", envTracesSampler, name)
	}
}
