package photo_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"testing"

	"github.com/connectengine/photoshoot/services/media/internal/photo"
	"github.com/connectengine/photoshoot/services/media/internal/photo/phototest"
)

func TestInspect_refusesBadFiles(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		data []byte
		want any
	}{
		"png_bomb_60000x60000":  {phototest.PNGBomb(), new(*photo.TooLargeError)},
		"truncated_jpeg":        {phototest.TruncatedJPEG(t), new(*photo.CorruptError)},
		"zero_bytes":            {nil, photo.ErrEmpty},
		"svg":                   {phototest.SVG(), new(*photo.UnsupportedError)},
		"html":                  {phototest.HTML(), new(*photo.UnsupportedError)},
		"gif":                   {phototest.GIF(), new(*photo.UnsupportedError)},
		"pdf":                   {phototest.PDF(), new(*photo.UnsupportedError)},
		"heic":                  {phototest.HEIC(), new(*photo.UnsupportedError)},
		"jpeg_zip_polyglot":     {phototest.Polyglot(t), new(*photo.UnsupportedError)},
		"png_with_data_after":   {append(phototest.PNG(t, 8, 8), []byte("<script>x</script>")...), new(*photo.UnsupportedError)},
		"jpeg_header_only":      {phototest.JPEG(t, 16, 16)[:200], new(*photo.CorruptError)},
		"random_after_jpeg_soi": {append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{7}, 100)...), new(*photo.CorruptError)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := photo.Inspect(bytes.NewReader(c.data), int64(len(c.data)))
			if err == nil {
				t.Fatal("accepted")
			}
			if target, ok := c.want.(error); ok {
				if !errors.Is(err, target) {
					t.Fatalf("error %v, want %v", err, target)
				}
				return
			}
			if !errors.As(err, c.want) {
				t.Fatalf("error %T %v, want %T", err, err, c.want)
			}
		})
	}
}

func TestInspect_acceptsEachFormatAndPadding(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		data []byte
		want photo.Format
	}{
		"jpeg":              {phototest.JPEG(t, 40, 30), photo.FormatJPEG},
		"png":               {phototest.PNG(t, 40, 30), photo.FormatPNG},
		"webp":              {phototest.WebP(t, 40, 30), photo.FormatWebP},
		"jpeg_zero_padding": {append(phototest.JPEG(t, 40, 30), make([]byte, 100)...), photo.FormatJPEG},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			info, err := photo.Inspect(bytes.NewReader(c.data), int64(len(c.data)))
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != c.want || info.Width != 40 || info.Height != 30 {
				t.Fatalf("info %+v", info)
			}
		})
	}
}

func TestProcess_rotatedPhotoWithGPSComesBackUprightWithoutMetadata(t *testing.T) {
	t.Parallel()
	src := phototest.RotatedWithGPS(t, 80, 40)
	if !bytes.Contains(src, phototest.GPSLatitude) {
		t.Fatal("fixture lacks its GPS data")
	}
	info, err := photo.Inspect(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Orientation != 6 || info.Width != 40 || info.Height != 80 {
		t.Fatalf("info %+v, want orientation 6 and 40×80 upright", info)
	}
	var orig bytes.Buffer
	if _, err := photo.Process(bytes.NewReader(src), info, photo.Options{}, &orig); err != nil {
		t.Fatal(err)
	}
	out := orig.Bytes()
	for _, secret := range [][]byte{phototest.GPSLatitude, []byte("Exif"), {0xFF, 0xE1}} {
		if bytes.Contains(out, secret) {
			t.Errorf("stored original still contains %q", secret)
		}
	}
	img, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 40 || b.Dy() != 80 {
		t.Fatalf("stored %v, want 40×80", b)
	}
	// The source's red top-left quadrant is at the top right once rotated
	// 90° clockwise.
	if !reddish(img, 30, 10) || reddish(img, 10, 10) {
		t.Errorf("not upright: pixel (30,10) red=%v, (10,10) red=%v", reddish(img, 30, 10), reddish(img, 10, 10))
	}
}

func reddish(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r > 0xC000 && g < 0x4000 && b < 0x4000
}

func TestOrient_allEightOrientations(t *testing.T) {
	t.Parallel()
	// A 3×2 image with distinct values; each orientation must map the
	// stored pixel (0,0) to the displayed corner EXIF specifies.
	src := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(src.Pix, []byte{1, 2, 3, 4, 5, 6})
	want := map[int][]byte{
		1: {1, 2, 3, 4, 5, 6},
		2: {3, 2, 1, 6, 5, 4},
		3: {6, 5, 4, 3, 2, 1},
		4: {4, 5, 6, 1, 2, 3},
		5: {1, 4, 2, 5, 3, 6},
		6: {4, 1, 5, 2, 6, 3},
		7: {6, 3, 5, 2, 4, 1},
		8: {3, 6, 2, 5, 1, 4},
	}
	for o, w := range want {
		got := photo.Orient(src, o).(*image.Gray)
		if !bytes.Equal(got.Pix, w) {
			t.Errorf("orientation %d: %v, want %v", o, got.Pix, w)
		}
	}
}

func TestProcess_renditionsAndFormats(t *testing.T) {
	t.Parallel()
	src := phototest.JPEG(t, 3000, 2000)
	info, err := photo.Inspect(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	var orig bytes.Buffer
	res, err := photo.Process(bytes.NewReader(src), info, photo.Options{}, &orig)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		data []byte
		w, h int
	}{
		"original":  {orig.Bytes(), 3000, 2000},
		"preview":   {res.Preview.Data, 1024, 683},
		"thumbnail": {res.Thumbnail.Data, 512, 342},
	} {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(c.data))
		if err != nil || cfg.Width != c.w || cfg.Height != c.h {
			t.Errorf("%s: %dx%d (%v), want %dx%d", name, cfg.Width, cfg.Height, err, c.w, c.h)
		}
	}
	if res.Info.Width != 3000 || res.Info.Height != 2000 || res.Info.Format != photo.FormatJPEG {
		t.Errorf("result info %+v", res.Info)
	}
	for _, to := range []photo.Format{photo.FormatPNG, photo.FormatWebP, photo.FormatJPEG} {
		var out bytes.Buffer
		if err := photo.Convert(&out, bytes.NewReader(res.Thumbnail.Data), photo.FormatJPEG, to, ""); err != nil {
			t.Fatal(err)
		}
		if f, err := photo.Sniff(out.Bytes()); err != nil || f != to {
			t.Errorf("convert to %s gave %s (%v)", to, f, err)
		}
	}
}

func TestProcessAndConvert_writeDigitalSourceTypeIntoJPEGAndPNG(t *testing.T) {
	t.Parallel()
	const dst = photo.DigitalSourceCompositeTrainedAlgorithmic
	packet := []byte("<Iptc4xmpExt:DigitalSourceType>" + dst + "<")
	for name, c := range map[string]struct {
		src  []byte
		want photo.Format
	}{
		"jpeg":           {phototest.JPEG(t, 20, 20), photo.FormatJPEG},
		"png":            {phototest.PNG(t, 20, 20), photo.FormatPNG},
		"webp_to_png":    {phototest.WebP(t, 20, 20), photo.FormatPNG},
		"large_png_rows": {phototest.PNG(t, 700, 300), photo.FormatPNG},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			info, err := photo.Inspect(bytes.NewReader(c.src), int64(len(c.src)))
			if err != nil {
				t.Fatal(err)
			}
			var orig bytes.Buffer
			res, err := photo.Process(bytes.NewReader(c.src), info, photo.Options{DigitalSourceType: dst}, &orig)
			if err != nil {
				t.Fatal(err)
			}
			out := orig.Bytes()
			if res.Info.Format != c.want || !bytes.Contains(out, packet) {
				t.Fatalf("written as %s, packet present %v", res.Info.Format, bytes.Contains(out, packet))
			}
			// Still a valid image of that format with nothing else wrong.
			if got, err := photo.Inspect(bytes.NewReader(out), int64(len(out))); err != nil || got.Format != c.want {
				t.Fatalf("with XMP: %+v, %v", got, err)
			}
			// A conversion of the stored original carries it too.
			to := photo.FormatJPEG
			if c.want == photo.FormatJPEG {
				to = photo.FormatPNG
			}
			var conv bytes.Buffer
			if err := photo.Convert(&conv, bytes.NewReader(out), c.want, to, dst); err != nil {
				t.Fatal(err)
			}
			if got, err := photo.Inspect(bytes.NewReader(conv.Bytes()), int64(conv.Len())); err != nil || got.Format != to || !bytes.Contains(conv.Bytes(), packet) {
				t.Fatalf("conversion to %s: %+v, %v, packet present %v", to, got, err, bytes.Contains(conv.Bytes(), packet))
			}
		})
	}
}

func TestFit_transparentPixelsDoNotBleedAndAnyTypeShrinks(t *testing.T) {
	t.Parallel()
	// Left half opaque red, right half fully transparent green: every box
	// of the 2×1 result mixes the halves only in the middle column pair.
	n := image.NewNRGBA(image.Rect(0, 0, 8, 4))
	for y := range 4 {
		for x := range 8 {
			c := color.NRGBA{255, 0, 0, 255}
			if x >= 3 {
				c = color.NRGBA{0, 255, 0, 0}
			}
			n.SetNRGBA(x, y, c)
		}
	}
	pal := image.NewPaletted(n.Bounds(), color.Palette{color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 255, 0, 0}})
	draw.Draw(pal, pal.Bounds(), n, image.Point{}, draw.Src)
	for name, src := range map[string]image.Image{"nrgba": n, "paletted": pal} {
		got, ok := photo.Fit(src, 2).(*image.RGBA)
		if !ok || got.Bounds().Dx() != 2 || got.Bounds().Dy() != 1 {
			t.Fatalf("%s: %T %v, want a 2×1 RGBA", name, got, got.Bounds())
		}
		left, right := got.RGBAAt(0, 0), got.RGBAAt(1, 0)
		// Left box: 3 red columns of 4 → 3/4 coverage, premultiplied red.
		if left.G != 0 || left.A < 190 || left.A > 193 || left.R != left.A {
			t.Errorf("%s: left %v, want premultiplied red at 3/4 alpha, no green", name, left)
		}
		if right != (color.RGBA{}) {
			t.Errorf("%s: right %v, want fully transparent", name, right)
		}
	}
}

func TestInspect_memoryEstimateByKind(t *testing.T) {
	t.Parallel()
	const w, h = 800, 600
	px := float64(w * h)
	jpg := phototest.JPEG(t, w, h) // Go writes 4:2:0
	progressive := bytes.Clone(jpg)
	if i := bytes.Index(progressive, []byte{0xFF, 0xC0}); i < 0 {
		t.Fatal("no SOF0 in the fixture")
	} else {
		progressive[i+1] = 0xC2 // SOF2: the header of a progressive JPEG
	}
	for name, c := range map[string]struct {
		data []byte
		// bytes per pixel expected beyond the rendition allowance
		bpp float64
	}{
		"jpeg_420":             {jpg, 1.5},
		"jpeg_420_progressive": {progressive, 1.5 * 5},
		"jpeg_rotated":         {phototest.RotatedWithGPS(t, w, h), 1.5 * 2},
		"png_rgba":             {phototest.PNG(t, w, h), 4},
		"png_16_bit":           {png16(t, w, h), 8},
		"webp_lossy":           {phototest.WebP(t, w, h), 1.5 + 8},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			info, err := photo.Inspect(bytes.NewReader(c.data), int64(len(c.data)))
			if err != nil {
				t.Fatal(err)
			}
			got := float64(info.Memory-8<<20) / px
			if got < c.bpp*0.99 || got > c.bpp*1.01 {
				t.Fatalf("estimate %.2f bytes per pixel, want %.2f", got, c.bpp)
			}
		})
	}
	if got, want := photo.ConvertMemory(photo.FormatJPEG, photo.FormatWebP, w, h), int64(px*9.5)+8<<20; got != want {
		t.Errorf("ConvertMemory jpeg→webp = %d, want %d", got, want)
	}
}

func png16(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzSniffDecode feeds arbitrary bytes through the upload path: nothing
// may panic, and whatever Inspect accepts must decode within the pixel
// limit or be reported as corrupt.
func FuzzSniffDecode(f *testing.F) {
	// The seed corpus in testdata/fuzz/FuzzSniffDecode runs with every
	// `go test`; these add the fixtures as the current code builds them.
	f.Add(phototest.PNGBomb())
	f.Add(phototest.SVG())
	f.Add(phototest.JPEG(f, 16, 8))
	f.Add(phototest.PNG(f, 8, 16))
	f.Add(phototest.WebP(f, 8, 8))
	f.Add(phototest.RotatedWithGPS(f, 16, 8))
	f.Add(phototest.Polyglot(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := photo.Inspect(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if info.Width*info.Height > photo.MaxPixels || info.Width <= 0 || info.Height <= 0 {
			t.Fatalf("accepted %dx%d", info.Width, info.Height)
		}
		if info.Width*info.Height > 4<<20 {
			return // decoding giant valid images only slows the fuzzer
		}
		res, err := photo.Process(bytes.NewReader(data), info, photo.Options{}, io.Discard)
		if err != nil {
			var corrupt *photo.CorruptError
			if !errors.As(err, &corrupt) {
				t.Fatalf("process: %v", err)
			}
			return
		}
		if res.Info.Width != info.Width || res.Info.Height != info.Height {
			t.Fatalf("decoded %dx%d, header said %dx%d", res.Info.Width, res.Info.Height, info.Width, info.Height)
		}
	})
}
