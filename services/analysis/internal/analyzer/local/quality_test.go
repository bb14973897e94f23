package local_test

import (
	"errors"
	"fmt"
	"image"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/local"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/synth"
)

// qualitySizes are small enough for -race, and include a size above
// local.WorkSide so the guided upsampling is measured too.
var qualitySizes = []image.Point{{240, 180}, {180, 240}, {300, 225}, {440, 330}}

const (
	qualitySeed  = 6
	qualityCount = 200
	// minMeanIoU is the bar.
	minMeanIoU = 0.95
)

type scored struct {
	spec synth.Spec
	iou  float64
}

// measure renders and analyses specs on every CPU; the result is in
// spec order whatever the scheduling.
func measure(tb testing.TB, specs []synth.Spec) []scored {
	tb.Helper()
	a := local.New()
	out := make([]scored, len(specs))
	errs := make([]error, len(specs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				sp := specs[i]
				s, err := synth.Render(sp)
				if err != nil {
					errs[i] = fmt.Errorf("render %+v: %w", sp, err)
					continue
				}
				r, err := a.Analyze(tb.Context(), s.Image)
				if err != nil {
					errs[i] = fmt.Errorf("analyse %+v: %w", sp, err)
					continue
				}
				out[i] = scored{sp, synth.IoU(r.Mask, s.Truth)}
			}
		})
	}
	for i := range specs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestSegmentationQuality is the quality bar: mean IoU ≥ 0.95 over a
// fixed seeded set of 200 synthetic product photos.
func TestSegmentationQuality(t *testing.T) {
	t.Parallel()
	res := measure(t, synth.Set(qualitySeed, qualityCount, qualitySizes))
	var sum float64
	for _, r := range res {
		sum += r.iou
	}
	mean := sum / float64(len(res))
	t.Logf("mean IoU %.4f over %d photos\n%s", mean, len(res), report(res))
	if mean < minMeanIoU {
		t.Errorf("mean IoU %.4f < %.2f", mean, minMeanIoU)
	}
}

// report is the per-backdrop table: mean and 5th percentile IoU.
func report(res []scored) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %5s %8s %8s %8s\n", "backdrop", "n", "mean", "p5", "min")
	for _, k := range synth.Backdrops() {
		var v []float64
		for _, r := range res {
			if r.spec.Backdrop == k {
				v = append(v, r.iou)
			}
		}
		b.WriteString(row(k.String(), v))
	}
	all := make([]float64, len(res))
	for i, r := range res {
		all[i] = r.iou
	}
	b.WriteString(row("all", all))
	if os.Getenv("SYNTH_WORST") != "" {
		slices.SortFunc(res, func(x, y scored) int {
			if x.iou < y.iou {
				return -1
			}
			return 1
		})
		for _, r := range res[:min(15, len(res))] {
			fmt.Fprintf(&b, "worst %.4f %+v %s %s\n", r.iou, r.spec, r.spec.Backdrop, r.spec.Shape)
		}
	}
	return b.String()
}

func row(name string, v []float64) string {
	if len(v) == 0 {
		return ""
	}
	slices.Sort(v)
	var sum float64
	for _, x := range v {
		sum += x
	}
	return fmt.Sprintf("%-10s %5d %8.4f %8.4f %8.4f\n", name, len(v), sum/float64(len(v)), v[len(v)*5/100], v[0])
}
