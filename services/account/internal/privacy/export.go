// Package privacy assembles a user's data export: it asks every service
// for its part (ExportUserData), fetches the user's original and generated
// images from media, writes one zip and stores it through media. Peers are
// called with account's service credential on the user's behalf.
package privacy

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// chunkSize is the largest chunk StoreImage accepts.
const chunkSize = 64 << 10

// fetchTimeout bounds one image download; peersTimeout one ExportUserData.
const (
	fetchTimeout = 2 * time.Minute
	peerTimeout  = 30 * time.Second
	storeTimeout = 10 * time.Minute
)

// Peers are the services an export reads from.
type Peers struct {
	Billing    billingv1.BillingServiceClient
	Media      mediav1.MediaServiceClient
	Analysis   analysisv1.AnalysisServiceClient
	Generation generationv1.GenerationServiceClient
}

// Failure is an export that cannot succeed by retrying: a service refused
// or does not implement its part. Reason is shown to operators and stored.
type Failure struct {
	Reason string
	Err    error
}

func (f *Failure) Error() string { return f.Reason + ": " + f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Result is a stored export zip.
type Result struct {
	ImageID   string
	SizeBytes int64
}

// Exporter builds exports.
type Exporter struct {
	peers  Peers
	self   func(ctx context.Context, userID string) (proto.Message, error)
	logger *slog.Logger
}

// NewExporter returns an exporter; self returns account's own part.
func NewExporter(peers Peers, self func(ctx context.Context, userID string) (proto.Message, error), logger *slog.Logger) *Exporter {
	return &Exporter{peers: peers, self: self, logger: logger}
}

// part is one service's JSON file in the zip.
type part struct {
	file string
	get  func(ctx context.Context) (proto.Message, error)
}

// Build assembles and stores the export. A peer that answers with a
// non-retryable status (Unimplemented, NotFound, …) yields a *Failure
// naming it; transient errors are returned as they are, for a retry.
func (e *Exporter) Build(ctx context.Context, userID, exportID string) (Result, error) {
	var media *mediav1.ExportUserDataResponse
	parts := []part{
		{"account.json", func(ctx context.Context) (proto.Message, error) { return e.self(ctx, userID) }},
		{"billing.json", func(ctx context.Context) (proto.Message, error) {
			return e.peers.Billing.ExportUserData(ctx, &billingv1.ExportUserDataRequest{UserId: userID})
		}},
		{"media.json", func(ctx context.Context) (proto.Message, error) {
			r, err := e.peers.Media.ExportUserData(ctx, &mediav1.ExportUserDataRequest{UserId: userID})
			media = r
			return r, err
		}},
		{"analysis.json", func(ctx context.Context) (proto.Message, error) {
			return e.peers.Analysis.ExportUserData(ctx, &analysisv1.ExportUserDataRequest{UserId: userID})
		}},
		{"generation.json", func(ctx context.Context) (proto.Message, error) {
			return e.peers.Generation.ExportUserData(ctx, &generationv1.ExportUserDataRequest{UserId: userID})
		}},
	}
	f, err := os.CreateTemp("", "photoshoot-export-*.zip")
	if err != nil {
		return Result{}, fmt.Errorf("export %s: temp file: %w", exportID, err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	zw := zip.NewWriter(f)
	marshal := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: true}
	for _, p := range parts {
		pctx, cancel := context.WithTimeout(ctx, peerTimeout)
		msg, err := p.get(pctx)
		cancel()
		if err != nil {
			return Result{}, classify(p.file, err)
		}
		data, err := marshal.Marshal(msg)
		if err != nil {
			return Result{}, fmt.Errorf("export %s: encode %s: %w", exportID, p.file, err)
		}
		w, err := zw.Create(p.file)
		if err != nil {
			return Result{}, fmt.Errorf("export %s: %w", exportID, err)
		}
		if _, err := w.Write(data); err != nil {
			return Result{}, fmt.Errorf("export %s: %w", exportID, err)
		}
	}
	for _, img := range media.GetImages() {
		if k := img.GetKind(); k != mediav1.ImageKind_IMAGE_KIND_UPLOAD && k != mediav1.ImageKind_IMAGE_KIND_GENERATED {
			continue
		}
		if err := e.addImage(ctx, zw, userID, img); err != nil {
			return Result{}, err
		}
	}
	if err := zw.Close(); err != nil {
		return Result{}, fmt.Errorf("export %s: close zip: %w", exportID, err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return Result{}, fmt.Errorf("export %s: %w", exportID, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Result{}, fmt.Errorf("export %s: %w", exportID, err)
	}
	name := "photoshoot-export-" + time.Now().UTC().Format("2006-01-02") + ".zip"
	id, err := e.store(ctx, userID, name, f)
	if err != nil {
		return Result{}, err
	}
	return Result{ImageID: id, SizeBytes: size}, nil
}

func (e *Exporter) addImage(ctx context.Context, zw *zip.Writer, userID string, img *mediav1.Image) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	stream, err := e.peers.Media.FetchImage(ctx, &mediav1.FetchImageRequest{UserId: userID, ImageId: img.GetId()})
	if err != nil {
		return classify("image "+img.GetId(), err)
	}
	first, err := stream.Recv()
	if err != nil {
		return classify("image "+img.GetId(), err)
	}
	hdr := first.GetHeader()
	if hdr == nil {
		return &Failure{Reason: "media sent image " + img.GetId() + " without a header", Err: errors.New("protocol error")}
	}
	dir := "images/uploads/"
	if img.GetKind() == mediav1.ImageKind_IMAGE_KIND_GENERATED {
		dir = "images/generated/"
	}
	ext := ".bin"
	if exts, _ := mime.ExtensionsByType(hdr.GetContentType()); len(exts) > 0 {
		ext = exts[len(exts)-1]
		if hdr.GetContentType() == "image/jpeg" {
			ext = ".jpg"
		}
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: dir + img.GetId() + ext, Method: zip.Store, Modified: img.GetCreateTime().AsTime()})
	if err != nil {
		return fmt.Errorf("zip image %s: %w", img.GetId(), err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return classify("image "+img.GetId(), err)
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			return fmt.Errorf("zip image %s: %w", img.GetId(), err)
		}
	}
}

// store streams the zip to media as an EXPORT image of the user.
func (e *Exporter) store(ctx context.Context, userID, name string, r io.Reader) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	stream, err := e.peers.Media.StoreImage(ctx)
	if err != nil {
		return "", classify("store", err)
	}
	if err := stream.Send(&mediav1.StoreImageRequest{Part: &mediav1.StoreImageRequest_Metadata{Metadata: &mediav1.StoreMetadata{
		UserId: userID, Kind: mediav1.ImageKind_IMAGE_KIND_EXPORT, FileName: name,
	}}}); err != nil {
		return "", closeAndClassify(stream, err)
	}
	buf := make([]byte, chunkSize)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := stream.Send(&mediav1.StoreImageRequest{Part: &mediav1.StoreImageRequest_Chunk{Chunk: append([]byte(nil), buf[:n]...)}}); err != nil {
				return "", closeAndClassify(stream, err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("read export zip: %w", rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return "", classify("store", err)
	}
	return resp.GetImage().GetId(), nil
}

// closeAndClassify gets the server's status after a failed Send, which
// reports only io.EOF.
func closeAndClassify(stream grpc.ClientStreamingClient[mediav1.StoreImageRequest, mediav1.StoreImageResponse], err error) error {
	if errors.Is(err, io.EOF) {
		_, err = stream.CloseAndRecv()
	}
	return classify("store", err)
}

// classify keeps retryable statuses as plain errors and turns the rest into
// a Failure naming the step.
func classify(step string, err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		return fmt.Errorf("export %s: %w", step, err)
	case codes.Unimplemented:
		return &Failure{Reason: step + ": the service does not export user data yet (Unimplemented)", Err: err}
	default:
		return &Failure{Reason: step + ": " + status.Code(err).String(), Err: err}
	}
}
