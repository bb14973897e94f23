package photo_test

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
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
	res, err := photo.Process(bytes.NewReader(src), info, photo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := res.Original.Data
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
	res, err := photo.Process(bytes.NewReader(src), info, photo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		e    photo.Encoded
		w, h int
	}{
		"original":  {res.Original, 3000, 2000},
		"preview":   {res.Preview, 1024, 683},
		"thumbnail": {res.Thumbnail, 512, 342},
	} {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(c.e.Data))
		if err != nil || cfg.Width != c.w || cfg.Height != c.h {
			t.Errorf("%s: %dx%d (%v), want %dx%d", name, cfg.Width, cfg.Height, err, c.w, c.h)
		}
	}
	for _, to := range []photo.Format{photo.FormatPNG, photo.FormatWebP, photo.FormatJPEG} {
		out, err := photo.Convert(bytes.NewReader(res.Thumbnail.Data), photo.FormatJPEG, to)
		if err != nil {
			t.Fatal(err)
		}
		if f, err := photo.Sniff(out); err != nil || f != to {
			t.Errorf("convert to %s gave %s (%v)", to, f, err)
		}
	}
}

func TestWithDigitalSourceType(t *testing.T) {
	t.Parallel()
	for _, f := range []photo.Format{photo.FormatJPEG, photo.FormatPNG} {
		var src []byte
		if f == photo.FormatJPEG {
			src = phototest.JPEG(t, 20, 20)
		} else {
			src = phototest.PNG(t, 20, 20)
		}
		out, err := photo.WithDigitalSourceType(src, f, photo.DigitalSourceCompositeTrainedAlgorithmic)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte("<Iptc4xmpExt:DigitalSourceType>"+photo.DigitalSourceCompositeTrainedAlgorithmic)) {
			t.Errorf("%s: no DigitalSourceType", f)
		}
		// Still a valid image of the same format with no other problems.
		info, err := photo.Inspect(bytes.NewReader(out), int64(len(out)))
		if err != nil || info.Format != f {
			t.Errorf("%s with XMP: %+v, %v", f, info, err)
		}
	}
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
		res, err := photo.Process(bytes.NewReader(data), info, photo.Options{})
		if err != nil {
			var corrupt *photo.CorruptError
			if !errors.As(err, &corrupt) {
				t.Fatalf("process: %v", err)
			}
			return
		}
		if res.Original.Width != info.Width || res.Original.Height != info.Height {
			t.Fatalf("decoded %dx%d, header said %dx%d", res.Original.Width, res.Original.Height, info.Width, info.Height)
		}
	})
}
