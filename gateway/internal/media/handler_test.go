package media_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/gateway/internal/media"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

func pngBomb() []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 60000)
	binary.BigEndian.PutUint32(ihdr[4:], 60000)
	ihdr[8], ihdr[9] = 8, 6
	c := binary.BigEndian.AppendUint32(nil, 13)
	c = append(c, "IHDR"...)
	c = append(c, ihdr...)
	c = binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
	return append([]byte("\x89PNG\r\n\x1a\n"), c...)
}

func polyglot(t *testing.T) []byte {
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	w, _ := zw.Create("x.html")
	_, _ = w.Write([]byte("<script>alert(1)</script>"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return append(jpegOf(t, 32, 32), z.Bytes()...)
}

var gpsSecret = []byte("GPS-SECRET-52N13E")

// rotatedWithGPS is a w×h JPEG with EXIF orientation 6 and a GPS IFD.
func rotatedWithGPS(t *testing.T, w, h int) []byte {
	le := binary.LittleEndian
	entry := func(b []byte, tag, typ uint16, count, value uint32) []byte {
		b = le.AppendUint16(b, tag)
		b = le.AppendUint16(b, typ)
		b = le.AppendUint32(b, count)
		return le.AppendUint32(b, value)
	}
	tiff := le.AppendUint32([]byte("II*\x00"), 8)
	tiff = le.AppendUint16(tiff, 2)
	tiff = entry(tiff, 0x0112, 3, 1, 6)
	tiff = entry(tiff, 0x8825, 4, 1, 38)
	tiff = le.AppendUint32(tiff, 0)
	tiff = le.AppendUint16(tiff, 1)
	tiff = entry(tiff, 0x001B, 7, uint32(len(gpsSecret)), 38+18)
	tiff = le.AppendUint32(tiff, 0)
	tiff = append(tiff, gpsSecret...)
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	seg := binary.BigEndian.AppendUint16([]byte{0xFF, 0xE1}, uint16(len(app1)+2))
	j := jpegOf(t, w, h)
	out := append([]byte{0xFF, 0xD8}, append(seg, app1...)...)
	return append(out, j[2:]...)
}

func multipartBody(t *testing.T, name string, data []byte) (io.Reader, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("note", "ignored")
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	return &b, mw.FormDataContentType()
}

// imageJSON is the part of the Image JSON the tests read.
type imageJSON struct {
	ID           string `json:"id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	ContentType  string `json:"contentType"`
	ContentURL   string `json:"contentUrl"`
	ThumbnailURL string `json:"thumbnailUrl"`
}

func (e *env) uploadRaw(t *testing.T, userID, contentType string, data []byte) (*http.Response, imageJSON) {
	t.Helper()
	resp := e.do(t, http.MethodPost, "/v1/images", e.token(t, userID), bytes.NewReader(data), map[string]string{"Content-Type": contentType})
	var img imageJSON
	body := readBody(t, resp)
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(body, &img); err != nil {
			t.Fatal(err)
		}
	}
	return resp, img
}

func TestUpload_badFileMatrixThroughTheGateway(t *testing.T) {
	t.Parallel()
	e := start(t)
	huge := io.MultiReader(bytes.NewReader([]byte("\xFF\xD8\xFF")), io.LimitReader(zeros{}, 26<<20))
	for name, c := range map[string]struct {
		body        func() (io.Reader, string)
		code        int
		maxConsumed int64
	}{
		"png_bomb":   {func() (io.Reader, string) { return bytes.NewReader(pngBomb()), "image/png" }, 400, 0},
		"truncated":  {func() (io.Reader, string) { j := jpegOf(t, 64, 48); return bytes.NewReader(j[:len(j)/2]), "image/jpeg" }, 400, 0},
		"zero_bytes": {func() (io.Reader, string) { return bytes.NewReader(nil), "image/jpeg" }, 400, 0},
		"26_mb_raw":  {func() (io.Reader, string) { return huge, "image/jpeg" }, 413, 25<<20 + 64<<10},
		// With its length declared, refused before any of it is read.
		"26_mb_raw_declared": {func() (io.Reader, string) {
			return bytes.NewReader(append([]byte("\xFF\xD8\xFF"), make([]byte, 26<<20)...)), "image/jpeg"
		}, 413, 1},
		"svg": {func() (io.Reader, string) {
			return strings.NewReader(`<svg xmlns="http://www.w3.org/2000/svg"/>`), "image/svg+xml"
		}, 415, 0},
		"polyglot":      {func() (io.Reader, string) { return bytes.NewReader(polyglot(t)), "image/jpeg" }, 415, 0},
		"html_as_image": {func() (io.Reader, string) { return strings.NewReader("<html><script>x</script></html>"), "image/png" }, 415, 0},
		"svg_multipart": {func() (io.Reader, string) { return multipartBody(t, "a.svg", []byte(`<svg/>`)) }, 415, 0},
		"26_mb_multipart": {func() (io.Reader, string) {
			return multipartBody(t, "big.jpg", append([]byte("\xFF\xD8\xFF"), make([]byte, 26<<20)...))
		}, 413, 25<<20 + 1<<20 + 64<<10},
	} {
		t.Run(name, func(t *testing.T) {
			body, ct := c.body()
			e.bodyRead.Store(0)
			resp := e.do(t, http.MethodPost, "/v1/images", e.token(t, "user-bad"), body, map[string]string{"Content-Type": ct})
			got := readBody(t, resp)
			if resp.StatusCode != c.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, got, c.code)
			}
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(got, &st); err != nil || st.Code == 0 || st.Message == "" {
				t.Errorf("error body %s is not a google.rpc.Status", got)
			}
			if c.maxConsumed > 0 && e.bodyRead.Load() > c.maxConsumed {
				t.Errorf("read %d body bytes before refusing; want it refused while streaming", e.bodyRead.Load())
			}
		})
	}
	// The bytes decide: a PNG labelled as a GIF is taken.
	resp, img := e.uploadRaw(t, "user-bad", "image/gif", pngOf(t, 40, 30))
	if resp.StatusCode != http.StatusCreated || img.ContentType != "image/png" || img.Width != 40 {
		t.Fatalf("PNG labelled GIF: %d %+v", resp.StatusCode, img)
	}
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", e.token(t, "user-bad"))
	list, err := e.client.ListImages(ctx, &mediav1.ListImagesRequest{})
	if err != nil || len(list.GetImages()) != 1 {
		t.Fatalf("rows: %d, %v; want only the good PNG", len(list.GetImages()), err)
	}
	if files := e.blobFiles(t); len(files) != 3 {
		t.Fatalf("blob files %v, want the good PNG's 3", files)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestContent_uprightWithoutGPS_ranges_etags_formats(t *testing.T) {
	t.Parallel()
	e := start(t)
	body, ct := multipartBody(t, "IMG_0001.JPG", rotatedWithGPS(t, 400, 200))
	resp := e.do(t, http.MethodPost, "/v1/images", e.token(t, "user-a"), body, map[string]string{"Content-Type": ct})
	raw := readBody(t, resp)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, raw)
	}
	var img imageJSON
	_ = json.Unmarshal(raw, &img)
	if img.Width != 200 || img.Height != 400 {
		t.Fatalf("record %+v, want upright 200x400", img)
	}
	auth := e.token(t, "user-a")
	path := "/v1/images/" + img.ID + "/content"

	resp = e.do(t, http.MethodGet, path, auth, nil, nil)
	full := readBody(t, resp)
	if resp.StatusCode != 200 || bytes.Contains(full, gpsSecret) || bytes.Contains(full, []byte("Exif")) {
		t.Fatalf("content: %d, GPS kept=%v", resp.StatusCode, bytes.Contains(full, gpsSecret))
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(full)); err != nil || cfg.Width != 200 || cfg.Height != 400 {
		t.Fatalf("content %dx%d %v", cfg.Width, cfg.Height, err)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "private") ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline") || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("headers %v", resp.Header)
	}

	resp = e.do(t, http.MethodGet, path, auth, nil, map[string]string{"If-None-Match": etag})
	readBody(t, resp)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	for rng, want := range map[string][]byte{"bytes=0-99": full[:100], "bytes=100-": full[100:], "bytes=-50": full[len(full)-50:]} {
		resp = e.do(t, http.MethodGet, path, auth, nil, map[string]string{"Range": rng})
		got := readBody(t, resp)
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, want) || resp.Header.Get("Content-Range") == "" {
			t.Errorf("%s: %d, %d bytes, Content-Range %q", rng, resp.StatusCode, len(got), resp.Header.Get("Content-Range"))
		}
	}
	resp = e.do(t, http.MethodGet, path, auth, nil, map[string]string{"Range": "bytes=99999999-"})
	readBody(t, resp)
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}
	resp = e.do(t, http.MethodGet, path+"?download=1&format=webp", auth, nil, nil)
	webp := readBody(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/webp" || !bytes.HasPrefix(webp, []byte("RIFF")) ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || !strings.Contains(resp.Header.Get("Content-Disposition"), ".webp") {
		t.Errorf("webp download: %d %v", resp.StatusCode, resp.Header)
	}
	resp = e.do(t, http.MethodGet, "/v1/images/"+img.ID+"/thumbnail", auth, nil, nil)
	thumb := readBody(t, resp)
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb)); resp.StatusCode != 200 || err != nil || cfg.Height != 400 {
		t.Errorf("thumbnail: %d %v %d", resp.StatusCode, err, cfg.Height)
	}
}

func TestContent_crossUserAndSignedURLs(t *testing.T) {
	t.Parallel()
	e := start(t)
	_, a := e.uploadRaw(t, "user-a", "image/jpeg", jpegOf(t, 64, 64))
	_, b := e.uploadRaw(t, "user-b", "image/jpeg", jpegOf(t, 64, 64))
	if a.ID == "" || b.ID == "" {
		t.Fatal("uploads failed")
	}
	asB := e.token(t, "user-b")
	for _, p := range []string{"/content", "/thumbnail", "/content?variant=preview", "/content?download=1", "/content?format=png"} {
		resp := e.do(t, http.MethodGet, "/v1/images/"+a.ID+p, asB, nil, nil)
		readBody(t, resp)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("B reads A's %s: %d", p, resp.StatusCode)
		}
	}
	signed := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u.RequestURI()
	}
	// A's signed URL works with no credentials at all.
	resp := e.do(t, http.MethodGet, signed(a.ContentURL), "", nil, nil)
	readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("A's signed URL: %d", resp.StatusCode)
	}
	resp = e.do(t, http.MethodGet, signed(a.ThumbnailURL), "", nil, nil)
	readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("A's signed thumbnail URL: %d", resp.StatusCode)
	}
	bu, _ := url.Parse(b.ContentURL)
	au, _ := url.Parse(a.ContentURL)
	q := au.Query()
	sig := []byte(q.Get("signature"))
	sig[0] ^= 1
	tampered := url.Values{"expires": {q.Get("expires")}, "signature": {string(sig)}}
	later := url.Values{"expires": {q.Get("expires") + "0"}, "signature": {q.Get("signature")}}
	expired := url.Values{"expires": {"1000"}, "signature": {q.Get("signature")}}
	for name, path := range map[string]string{
		"b_signature_on_a_image": "/v1/images/" + a.ID + "/content?" + bu.RawQuery,
		"tampered_signature":     "/v1/images/" + a.ID + "/content?" + tampered.Encode(),
		"extended_expiry":        "/v1/images/" + a.ID + "/content?" + later.Encode(),
		"expired":                "/v1/images/" + a.ID + "/content?" + expired.Encode(),
		"content_sig_on_thumb":   "/v1/images/" + a.ID + "/thumbnail?" + au.RawQuery,
	} {
		resp := e.do(t, http.MethodGet, path, "", nil, nil)
		readBody(t, resp)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", name, resp.StatusCode)
		}
	}
	resp = e.do(t, http.MethodGet, "/v1/images/"+a.ID+"/content", "", nil, nil)
	readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no credentials: %d", resp.StatusCode)
	}
}

// TestChunkSize_fillsOneBufferPoolClass pins the arithmetic behind
// ChunkSize: a full chunk marshals to exactly 32 KiB.
func TestChunkSize_fillsOneBufferPoolClass(t *testing.T) {
	t.Parallel()
	m := &mediav1.UploadImageRequest{Part: &mediav1.UploadImageRequest_Chunk{Chunk: make([]byte, media.ChunkSize)}}
	if got := proto.Size(m); got != 32<<10 {
		t.Fatalf("a full chunk marshals to %d bytes, want %d", got, 32<<10)
	}
}
