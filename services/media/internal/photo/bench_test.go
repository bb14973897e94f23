package photo_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/connectengine/photoshoot/services/media/internal/photo"
)

// photo12MP is a 4000×3000 JPEG that compresses like a photograph: smooth
// gradients with sensor-like noise.
func photo12MP(b *testing.B) []byte {
	b.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	r := rand.New(rand.NewPCG(1, 2))
	for y := range 3000 {
		for x := range 4000 {
			img.Y[y*img.YStride+x] = uint8((x/16+y/12)%200 + r.IntN(8))
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(100+i%50), uint8(150-i%40)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkThumbnail12MP makes the 512 px thumbnail of a 12 MP JPEG file
// (decode, scale, encode) and, in the same run, times vipsthumbnail on the
// same file, reporting both as ms per image.
func BenchmarkThumbnail12MP(b *testing.B) {
	data := photo12MP(b)
	dir := b.TempDir()
	src := filepath.Join(dir, "photo.jpg")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		b.Fatal(err)
	}
	info, err := photo.Inspect(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		out, err := photo.Thumbnail(f, info, photo.ThumbnailSize)
		f.Close()
		if err != nil || out.Width != 512 {
			b.Fatalf("thumbnail %dx%d: %v", out.Width, out.Height, err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "go_ms/image")
	b.StopTimer()
	vips, err := exec.LookPath("vipsthumbnail")
	if err != nil {
		b.Log("vipsthumbnail not installed (Debian libvips-tools); no comparison")
		return
	}
	const runs = 10
	vstart := time.Now()
	for range runs {
		cmd := exec.Command(vips, src, "--size", "512", "-o", filepath.Join(dir, "vips.jpg[Q=85]"))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("vipsthumbnail: %v %s", err, out)
		}
	}
	b.ReportMetric(float64(time.Since(vstart).Milliseconds())/runs, "vips_ms/image")
}
