package media_test

import (
	"bufio"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// noisePNG writes a PNG of RGB noise just under 25 MB: noise does not
// compress, so the file is as large as the pixels (2880×2880).
func noisePNG(b *testing.B, path string) {
	b.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 2880, 2880))
	r := rand.New(rand.NewPCG(3, 4))
	for i := range img.Pix {
		if i%4 == 3 {
			img.Pix[i] = 255
		} else {
			img.Pix[i] = uint8(r.Uint32())
		}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, img); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// corruptBody writes 25 MB that media spools completely and then refuses
// (a PNG signature followed by zeros): the streaming path with no image
// work after it.
func corruptBody(b *testing.B, path string) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = f.Write([]byte("\x89PNG\r\n\x1a\n"))
	if _, err := io.CopyN(f, zeros{}, 25<<20-8-1024); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// BenchmarkUpload25MB sends a 25 MB body (with its Content-Length, as
// browsers do) through the gateway handler into media (a separate process)
// and reports MB/s next to a plain io.Copy of the same file to another
// file, each side's CPU time per upload, and the peak RSS growth (VmHWM
// after resetting it) of the gateway (this process) and of media.
//
// stream: a body media spools and then refuses as corrupt, i.e. the
// transport path alone; stored: a valid noise PNG, decoded, re-encoded with
// its renditions and written to the disk store.
func BenchmarkUpload25MB(b *testing.B) {
	e := start(b)
	dir := b.TempDir()
	for _, c := range []struct {
		name   string
		make   func(*testing.B, string)
		status int
	}{
		{"stream", corruptBody, http.StatusBadRequest},
		{"stored", noisePNG, http.StatusCreated},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := filepath.Join(dir, c.name+".bin")
			c.make(b, src)
			st, err := os.Stat(src)
			if err != nil {
				b.Fatal(err)
			}
			size := st.Size()
			auth := e.token(b, "bench-user")
			b.SetBytes(size)
			var copyTime, gwCPU, mediaCPU time.Duration
			var gwPeak, mediaPeak int64
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				copyTime += plainCopy(b, src, filepath.Join(dir, "copy.bin"))
				selfRSS, mediaRSS := procStatus(os.Getpid(), "VmRSS"), procStatus(e.pid, "VmRSS")
				resetPeak(os.Getpid())
				resetPeak(e.pid)
				f, err := os.Open(src)
				if err != nil {
					b.Fatal(err)
				}
				selfCPU0, mediaCPU0 := cpuTime(os.Getpid()), cpuTime(e.pid)
				b.StartTimer()
				resp := e.do(b, http.MethodPost, "/v1/images", auth, f, map[string]string{"Content-Type": "application/octet-stream"})
				readBody(b, resp)
				b.StopTimer()
				gwCPU += cpuTime(os.Getpid()) - selfCPU0
				mediaCPU += cpuTime(e.pid) - mediaCPU0
				f.Close()
				if resp.StatusCode != c.status {
					b.Fatalf("status %d, want %d", resp.StatusCode, c.status)
				}
				gwPeak = max(gwPeak, procStatus(os.Getpid(), "VmHWM")-selfRSS)
				mediaPeak = max(mediaPeak, procStatus(e.pid, "VmHWM")-mediaRSS)
				b.StartTimer()
			}
			b.StopTimer()
			mb := float64(size) / 1e6
			b.ReportMetric(mb/(copyTime.Seconds()/float64(b.N)), "iocopy_MB/s")
			// CPU time per upload varies less than wall time on a shared
			// machine; the gateway's includes the benchmark's HTTP client.
			b.ReportMetric(float64(gwCPU.Milliseconds())/float64(b.N), "gateway_cpu_ms/op")
			b.ReportMetric(float64(mediaCPU.Milliseconds())/float64(b.N), "media_cpu_ms/op")
			b.ReportMetric(float64(gwPeak)/1024, "gateway_peak_rss_growth_MB")
			b.ReportMetric(float64(mediaPeak)/1024, "media_peak_rss_growth_MB")
		})
	}
}

// smooth50MP writes a 50-megapixel (8660×5773) image of smooth gradients,
// which compresses well below 25 MB, as a JPEG (4:2:0) or an opaque PNG.
func smooth50MP(b *testing.B, path string, asPNG bool) {
	b.Helper()
	const w, h = 8660, 5773
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		row := img.Pix[y*img.Stride:]
		for x := range w {
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = uint8(x/40), uint8(y/30), uint8((x+y)/60), 255
		}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	if asPNG {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(bw, img)
	} else {
		err = jpeg.Encode(bw, img, &jpeg.Options{Quality: 90})
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// BenchmarkStore50MP stores 50-megapixel images, the largest accepted, and
// reports media's peak RSS growth: the bound a whole-image decode sets
// (about 1.5 bytes per pixel for a 4:2:0 JPEG, 4 for an RGBA PNG), and
// that concurrent uploads stay within the decode budget instead of
// multiplying it (x4: four PNG uploads at once).
func BenchmarkStore50MP(b *testing.B) {
	e := start(b)
	dir := b.TempDir()
	for _, c := range []struct {
		name     string
		png      bool
		parallel int
	}{
		{"jpeg", false, 1},
		{"png", true, 1},
		{"png_x4", true, 4},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := filepath.Join(dir, c.name+".img")
			smooth50MP(b, src, c.png)
			auth := e.token(b, "bench-user")
			var mediaPeak int64
			var mediaCPU time.Duration
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				mediaRSS := procStatus(e.pid, "VmRSS")
				resetPeak(e.pid)
				cpu0 := cpuTime(e.pid)
				b.StartTimer()
				var wg sync.WaitGroup
				statuses := make([]int, c.parallel)
				for i := range c.parallel {
					wg.Go(func() {
						f, err := os.Open(src)
						if err != nil {
							b.Error(err)
							return
						}
						defer f.Close()
						resp := e.do(b, http.MethodPost, "/v1/images", auth, f, map[string]string{"Content-Type": "application/octet-stream"})
						readBody(b, resp)
						statuses[i] = resp.StatusCode
					})
				}
				wg.Wait()
				b.StopTimer()
				for _, st := range statuses {
					if st != http.StatusCreated {
						b.Fatalf("status %d, want %d", st, http.StatusCreated)
					}
				}
				mediaCPU += cpuTime(e.pid) - cpu0
				mediaPeak = max(mediaPeak, procStatus(e.pid, "VmHWM")-mediaRSS)
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(mediaCPU.Milliseconds())/float64(b.N), "media_cpu_ms/op")
			b.ReportMetric(float64(mediaPeak)/1024, "media_peak_rss_growth_MB")
		})
	}
}

// plainCopy copies src to dst with io.Copy and fsyncs, as the disk store
// does, returning how long it took.
func plainCopy(b *testing.B, src, dst string) time.Duration {
	start := time.Now()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		b.Fatal(err)
	}
	out.Close()
	return time.Since(start)
}
