package local_test

import (
	"image"
	"testing"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/local"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/synth"
)

// BenchmarkAnalyze12MP times the whole local analysis of a 4000×3000 JPEG
// (already decoded, as the service holds it) on one goroutine.
func BenchmarkAnalyze12MP(b *testing.B) {
	s, err := synth.Render(synth.Spec{Seed: 12, Width: 4000, Height: 3000, Backdrop: synth.Gradient, Shape: synth.Bottle})
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := s.Image.(*image.YCbCr); !ok {
		b.Logf("image is %T, not a decoded JPEG", s.Image)
	}
	a := local.New()
	var iou float64
	for b.Loop() {
		r, err := a.Analyze(b.Context(), s.Image)
		if err != nil {
			b.Fatal(err)
		}
		iou = synth.IoU(r.Mask, s.Truth)
	}
	b.ReportMetric(iou, "IoU")
}

// BenchmarkSegmentationQuality prints the quality table of the fixed set
// (mean and 5th-percentile IoU per backdrop) and reports the means.
func BenchmarkSegmentationQuality(b *testing.B) {
	specs := synth.Set(qualitySeed, qualityCount, qualitySizes)
	var res []scored
	for b.Loop() {
		res = measure(b, specs)
	}
	b.Log("\n" + report(res))
	for _, k := range synth.Backdrops() {
		var sum float64
		var n int
		for _, r := range res {
			if r.spec.Backdrop == k {
				sum += r.iou
				n++
			}
		}
		b.ReportMetric(sum/float64(n), "IoU-"+k.String())
	}
}
