// Package media serves the gateway's streaming image routes, which
// grpc-gateway cannot stream: POST /v1/images (a raw or multipart body
// streamed into MediaService.UploadImage in chunks of at most 64 KiB, never
// held whole in memory) and GET /v1/images/{image_id}/content and
// /thumbnail (MediaService.ReadImage streamed out with ETag, Range,
// Content-Disposition and ?format=).
//
// Errors are google.rpc.Status JSON with grpc-gateway's HTTP mapping, plus
// two mappings of our own that grpc-gateway has no code for:
//
//   - a body over 25 MB is 413, whether the gateway notices it while
//     streaming (http.MaxBytesReader) or media does (ResourceExhausted,
//     which grpc-gateway would answer 429: on uploads it only ever means
//     "too large");
//   - InvalidArgument with a violation on field "content_type" (the bytes
//     are not JPEG, PNG or WebP) is 415; other InvalidArgument stays 400.
package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// Limits, matching the media service's.
const (
	// MaxUploadBytes is the largest file accepted.
	MaxUploadBytes = 25 << 20
	// ChunkSize is the size of the chunks sent to media (which accepts up
	// to 64 KiB). With the oneof tag and length (4 bytes) an
	// UploadImageRequest is then exactly 32 KiB, a size class of gRPC's
	// default buffer pool, which zeroes the whole buffer it hands out: a
	// 64 KiB chunk would land in the 1 MiB class and cost 16× its size in
	// zeroing, on this side when marshalling and on media's when receiving.
	ChunkSize = 32<<10 - 4
	// multipartOverhead allows for the multipart framing and small fields
	// around the file part.
	multipartOverhead = 1 << 20
)

// Handler serves the streaming image routes.
type Handler struct {
	client mediav1.MediaServiceClient
	logger *slog.Logger
	// Outgoing turns a request into the context of its gRPC call, carrying
	// the caller's credentials. The default, ForwardAuthorization, copies
	// the Authorization header as grpc-gateway does; replace it to exchange
	// a session for an access token.
	Outgoing func(r *http.Request) context.Context
}

// NewHandler returns a handler calling media through client.
func NewHandler(client mediav1.MediaServiceClient, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{client: client, logger: logger, Outgoing: ForwardAuthorization}
}

// ForwardAuthorization copies the request's Authorization header into the
// outgoing gRPC metadata as `authorization`.
func ForwardAuthorization(r *http.Request) context.Context {
	ctx := r.Context()
	if a := r.Header.Get("Authorization"); a != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", a)
	}
	return ctx
}

var jsonOut = protojson.MarshalOptions{EmitUnpopulated: true}

// Upload handles POST /v1/images: the body is the file itself, or
// multipart/form-data whose first file part is. Answers 201 with the Image.
func (h *Handler) Upload(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(h.Outgoing(r))
	defer cancel()

	body, name, declared, err := uploadBody(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	stream, err := h.client.UploadImage(ctx)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	err = stream.Send(&mediav1.UploadImageRequest{Part: &mediav1.UploadImageRequest_Metadata{
		Metadata: &mediav1.UploadMetadata{FileName: name, ContentType: declared, SizeBytes: max(r.ContentLength, 0)},
	}})
	if err == nil {
		err = sendBody(body, func(b []byte) error {
			return stream.Send(&mediav1.UploadImageRequest{Part: &mediav1.UploadImageRequest_Chunk{Chunk: b}})
		})
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		cancel() // media discards the spooled part
		h.writeError(w, r, errTooLarge)
		return
	case err != nil && !errors.Is(err, io.EOF):
		h.writeError(w, r, err)
		return
	}
	// io.EOF from Send means media ended the call early; CloseAndRecv
	// returns its status.
	resp, err := stream.CloseAndRecv()
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out, err := jsonOut.Marshal(resp.GetImage())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/v1/images/"+url.PathEscape(resp.GetImage().GetId()))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(out)
}

// errTooLarge answers an upload over MaxUploadBytes (413).
var errTooLarge = status.Error(codes.ResourceExhausted, fmt.Sprintf("the file is larger than %d MB", MaxUploadBytes>>20))

// uploadBody finds the file's bytes without reading them: the raw body,
// or the first file part of a multipart form, under a size limit enforced
// while reading.
func uploadBody(w http.ResponseWriter, r *http.Request) (io.Reader, string, string, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	if mt != "multipart/form-data" {
		if r.ContentLength > MaxUploadBytes {
			// Declared too large: refused before a byte goes to media.
			return nil, "", "", errTooLarge
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxUploadBytes)
		name := r.URL.Query().Get("file_name")
		if _, p, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil && p["filename"] != "" {
			name = p["filename"]
		}
		return r.Body, name, ct, nil
	}
	if params["boundary"] == "" {
		return nil, "", "", status.Error(codes.InvalidArgument, "multipart body without a boundary")
	}
	if r.ContentLength > MaxUploadBytes+multipartOverhead {
		return nil, "", "", errTooLarge
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxUploadBytes+multipartOverhead)
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, "", "", errTooLarge
		case errors.Is(err, io.EOF):
			return nil, "", "", status.Error(codes.InvalidArgument, "the form has no file part")
		case err != nil:
			return nil, "", "", status.Error(codes.InvalidArgument, "malformed multipart body")
		}
		if part.FileName() != "" {
			return &limitedPart{r: part, left: MaxUploadBytes}, part.FileName(), part.Header.Get("Content-Type"), nil
		}
	}
}

// limitedPart fails like http.MaxBytesReader once a file part exceeds the
// limit, so a multipart upload is refused as early as a raw one.
type limitedPart struct {
	r    io.Reader
	left int64
}

func (l *limitedPart) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &http.MaxBytesError{Limit: MaxUploadBytes}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, &http.MaxBytesError{Limit: MaxUploadBytes}
	}
	return n, err
}

// sendBody reads r in chunks of ChunkSize and sends each.
func sendBody(r io.Reader, send func([]byte) error) error {
	buf := make([]byte, ChunkSize)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if err := send(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Content handles GET /v1/images/{image_id}/content and /thumbnail.
// Query parameters: variant (original or preview, on /content), format
// (jpeg, png, webp), download=1 (attachment), and expires + signature for
// a signed URL, which needs no credentials.
func (h *Handler) Content(w http.ResponseWriter, r *http.Request) {
	id, variant, ok := target(r)
	if !ok {
		h.writeError(w, r, status.Error(codes.NotFound, "no such image route"))
		return
	}
	q := r.URL.Query()
	req := &mediav1.ReadImageRequest{ImageId: id, Variant: variant, Format: q.Get("format")}
	ctx := h.Outgoing(r)
	if q.Has("signature") || q.Has("expires") {
		// The signature is the credential; a stale session must not spoil it.
		ctx = r.Context()
		req.Signature = q.Get("signature")
		exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
		if err != nil {
			h.writeError(w, r, status.Error(codes.NotFound, "image not found"))
			return
		}
		req.Expires = exp
	}
	rng, hasRange := parseRange(r.Header.Get("Range"))
	if hasRange && r.Header.Get("If-None-Match") == "" {
		req.Offset, req.Length = rng.start, rng.length
		if rng.suffix {
			// The offset depends on the size: ask for the header first.
			hdr, err := h.header(ctx, req)
			if err != nil {
				h.writeError(w, r, err)
				return
			}
			req.Offset = max(0, hdr.GetSizeBytes()-rng.length)
			req.Length = 0
		}
	} else {
		hasRange = false
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := h.client.ReadImage(ctx, req)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	first, err := stream.Recv()
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	hdr := first.GetHeader()
	if hdr == nil {
		h.writeError(w, r, status.Error(codes.Internal, "media sent no header"))
		return
	}
	wh := w.Header()
	wh.Set("ETag", hdr.GetEtag())
	wh.Set("Accept-Ranges", "bytes")
	wh.Set("Cache-Control", cacheControl(req.GetExpires()))
	wh.Set("X-Content-Type-Options", "nosniff")
	wh.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if t := hdr.GetCreateTime(); t != nil {
		wh.Set("Last-Modified", t.AsTime().UTC().Format(http.TimeFormat))
	}
	if etagMatch(r.Header.Get("If-None-Match"), hdr.GetEtag()) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	size := hdr.GetSizeBytes()
	if hasRange && req.GetOffset() >= size && size > 0 {
		wh.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	disposition := "inline"
	if q.Get("download") == "1" || q.Get("download") == "true" {
		disposition = "attachment"
	}
	wh.Set("Content-Disposition", contentDisposition(disposition, hdr.GetFileName()))
	wh.Set("Content-Type", hdr.GetContentType())
	code := http.StatusOK
	n := size
	if hasRange && size > 0 {
		end := size - 1
		if req.GetLength() > 0 {
			end = min(end, req.GetOffset()+req.GetLength()-1)
		}
		n = end - req.GetOffset() + 1
		wh.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", req.GetOffset(), end, size))
		code = http.StatusPartialContent
	}
	wh.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(code)
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// Headers are gone; all that is left is to cut the response
			// short, which the client sees as a short body.
			h.logger.WarnContext(r.Context(), "image stream broke", "image_id", id, "error", err)
			return
		}
		if _, err := w.Write(m.GetChunk()); err != nil {
			return
		}
	}
}

// header reads only the header of a rendition.
func (h *Handler) header(ctx context.Context, req *mediav1.ReadImageRequest) (*mediav1.ReadImageHeader, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	probe := proto.Clone(req).(*mediav1.ReadImageRequest)
	probe.Offset, probe.Length = 0, 1
	stream, err := h.client.ReadImage(ctx, probe)
	if err != nil {
		return nil, err
	}
	m, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	return m.GetHeader(), nil
}

// target reads the image id and the variant from the path.
func target(r *http.Request) (string, mediav1.Variant, bool) {
	id := r.PathValue("image_id")
	path := strings.TrimSuffix(r.URL.Path, "/")
	last := path[strings.LastIndex(path, "/")+1:]
	if id == "" {
		parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
		if len(parts) != 4 || parts[0] != "v1" || parts[1] != "images" {
			return "", 0, false
		}
		id = parts[2]
	}
	switch last {
	case "thumbnail":
		return id, mediav1.Variant_VARIANT_THUMBNAIL, true
	case "content":
		switch strings.ToLower(r.URL.Query().Get("variant")) {
		case "", "original", "variant_original":
			return id, mediav1.Variant_VARIANT_ORIGINAL, true
		case "preview", "variant_preview":
			return id, mediav1.Variant_VARIANT_PREVIEW, true
		case "thumbnail", "variant_thumbnail":
			return id, mediav1.Variant_VARIANT_THUMBNAIL, true
		}
	}
	return "", 0, false
}

type byteRange struct {
	start, length int64
	suffix        bool
}

// parseRange understands one range: "bytes=a-b", "bytes=a-" or
// "bytes=-n". Anything else, including several ranges, is ignored, which
// RFC 9110 allows: the whole representation is sent.
func parseRange(h string) (byteRange, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return byteRange{}, false
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return byteRange{}, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return byteRange{}, false
		}
		return byteRange{length: n, suffix: true}, true
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return byteRange{}, false
	}
	if b == "" {
		return byteRange{start: start}, true
	}
	end, err := strconv.ParseInt(b, 10, 64)
	if err != nil || end < start {
		return byteRange{}, false
	}
	return byteRange{start: start, length: end - start + 1}, true
}

func etagMatch(header, etag string) bool {
	if header == "" || etag == "" {
		return false
	}
	for c := range strings.SplitSeq(header, ",") {
		c = strings.TrimPrefix(strings.TrimSpace(c), "W/")
		if c == "*" || c == etag {
			return true
		}
	}
	return false
}

// cacheControl keeps images in the browser's private cache only; a signed
// URL's response is not cached past its expiry.
func cacheControl(expires int64) string {
	age := int64(300)
	if expires > 0 {
		age = min(age, max(0, expires-time.Now().Unix()))
	}
	return "private, max-age=" + strconv.FormatInt(age, 10)
}

// contentDisposition quotes an ASCII fallback and adds the UTF-8 name.
func contentDisposition(disposition, name string) string {
	if name == "" {
		return disposition
	}
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7E || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	v := mime.FormatMediaType(disposition, map[string]string{"filename": ascii})
	if ascii != name {
		v += "; filename*=UTF-8''" + url.PathEscape(name)
	}
	return v
}

// writeError answers with google.rpc.Status JSON.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.Canceled) {
			st = status.New(codes.Canceled, "request canceled")
		} else {
			h.logger.ErrorContext(r.Context(), "image route failed", "error", err)
			st = status.New(codes.Internal, "internal error")
		}
	}
	code := HTTPStatus(st)
	body, merr := protojson.Marshal(st.Proto())
	if merr != nil {
		body = []byte(`{"code":13,"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// HTTPStatus is grpc-gateway's mapping with this package's two additions
// (see the package comment).
func HTTPStatus(st *status.Status) int {
	switch st.Code() {
	case codes.ResourceExhausted:
		return http.StatusRequestEntityTooLarge
	case codes.InvalidArgument:
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					if v.GetField() == "content_type" {
						return http.StatusUnsupportedMediaType
					}
				}
			}
		}
	}
	return runtime.HTTPStatusFromCode(st.Code())
}
