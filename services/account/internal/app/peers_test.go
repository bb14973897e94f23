package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// peers is a test double of the four services account calls, served over
// real gRPC on a loopback port: it implements their internal RPCs with
// canned data and records what account sends. Analysis answers
// Unimplemented unless analysisReady is set, as the real one does until its
// issue lands.
type peers struct {
	addr          string
	analysisReady bool

	mu     sync.Mutex
	grants []*billingv1.GrantRequest
	stored []byte
	meta   *mediav1.StoreMetadata
	images map[string][]byte
	// deleted maps image ids deleted through DeleteImage to the subject of
	// the access token they were deleted with.
	deleted map[string]string
}

func startPeers(t testing.TB, analysisReady bool) *peers {
	t.Helper()
	p := &peers{analysisReady: analysisReady, images: map[string][]byte{
		"img-upload":    []byte("\xff\xd8\xffupload-bytes"),
		"img-generated": []byte("\x89PNGgenerated-bytes"),
	}}
	srv := grpc.NewServer()
	billingv1.RegisterBillingServiceServer(srv, billingPeer{p: p})
	mediav1.RegisterMediaServiceServer(srv, mediaPeer{p: p})
	analysisv1.RegisterAnalysisServiceServer(srv, analysisPeer{p: p})
	generationv1.RegisterGenerationServiceServer(srv, generationPeer{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = lis.Addr().String()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return p
}

func (p *peers) Grants() []*billingv1.GrantRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*billingv1.GrantRequest(nil), p.grants...)
}

func (p *peers) Stored() ([]byte, *mediav1.StoreMetadata) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stored, p.meta
}

type billingPeer struct {
	billingv1.UnimplementedBillingServiceServer
	p *peers
}

func (b billingPeer) Grant(_ context.Context, r *billingv1.GrantRequest) (*billingv1.GrantResponse, error) {
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	b.p.grants = append(b.p.grants, r)
	return &billingv1.GrantResponse{Transaction: &billingv1.Transaction{Id: "tx-" + r.GetIdempotencyKey(), AvailableDelta: r.GetAmount()}}, nil
}

func (b billingPeer) ExportUserData(_ context.Context, r *billingv1.ExportUserDataRequest) (*billingv1.ExportUserDataResponse, error) {
	return &billingv1.ExportUserDataResponse{Transactions: []*billingv1.Transaction{{Id: "tx-trial", AvailableDelta: 10, Description: "trial for " + r.GetUserId()}}}, nil
}

type mediaPeer struct {
	mediav1.UnimplementedMediaServiceServer
	p *peers
}

func (m mediaPeer) ExportUserData(context.Context, *mediav1.ExportUserDataRequest) (*mediav1.ExportUserDataResponse, error) {
	return &mediav1.ExportUserDataResponse{Images: []*mediav1.Image{
		{Id: "img-upload", Kind: mediav1.ImageKind_IMAGE_KIND_UPLOAD, ContentType: "image/jpeg", CreateTime: timestamppb.Now()},
		{Id: "img-generated", Kind: mediav1.ImageKind_IMAGE_KIND_GENERATED, ContentType: "image/png", CreateTime: timestamppb.Now()},
		{Id: "img-old-export", Kind: mediav1.ImageKind_IMAGE_KIND_EXPORT, ContentType: "application/zip"},
	}}, nil
}

func (m mediaPeer) FetchImage(r *mediav1.FetchImageRequest, s grpc.ServerStreamingServer[mediav1.FetchImageResponse]) error {
	m.p.mu.Lock()
	data, ok := m.p.images[r.GetImageId()]
	m.p.mu.Unlock()
	if !ok {
		return status.Error(codes.NotFound, "no such image")
	}
	typ := "image/jpeg"
	if r.GetImageId() == "img-generated" {
		typ = "image/png"
	}
	if err := s.Send(&mediav1.FetchImageResponse{Part: &mediav1.FetchImageResponse_Header{Header: &mediav1.ReadImageHeader{ContentType: typ, SizeBytes: int64(len(data))}}}); err != nil {
		return err
	}
	for i := 0; i < len(data); i += 5 {
		if err := s.Send(&mediav1.FetchImageResponse{Part: &mediav1.FetchImageResponse_Chunk{Chunk: data[i:min(i+5, len(data))]}}); err != nil {
			return err
		}
	}
	return nil
}

func (m mediaPeer) StoreImage(s grpc.ClientStreamingServer[mediav1.StoreImageRequest, mediav1.StoreImageResponse]) error {
	var meta *mediav1.StoreMetadata
	var data []byte
	for {
		msg, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if md := msg.GetMetadata(); md != nil {
			meta = md
		} else {
			data = append(data, msg.GetChunk()...)
		}
	}
	m.p.mu.Lock()
	m.p.stored, m.p.meta = data, meta
	m.p.mu.Unlock()
	return s.SendAndClose(&mediav1.StoreImageResponse{Image: &mediav1.Image{Id: "img-export-zip", Kind: mediav1.ImageKind_IMAGE_KIND_EXPORT, SizeBytes: int64(len(data))}})
}

// DeleteImage records the deletion and the user the caller's token names
// (its payload decoded, not verified: media's own tests verify tokens).
func (m mediaPeer) DeleteImage(ctx context.Context, r *mediav1.DeleteImageRequest) (*mediav1.DeleteImageResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") {
		return nil, status.Error(codes.Unauthenticated, "access token required")
	}
	parts := strings.Split(strings.TrimPrefix(auth[0], "Bearer "), ".")
	if len(parts) != 3 {
		return nil, status.Error(codes.Unauthenticated, "malformed token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "malformed token")
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, status.Error(codes.Unauthenticated, "malformed token")
	}
	m.p.mu.Lock()
	defer m.p.mu.Unlock()
	if m.p.deleted == nil {
		m.p.deleted = map[string]string{}
	}
	m.p.deleted[r.GetImageId()] = claims.Sub
	return &mediav1.DeleteImageResponse{}, nil
}

// Deleted returns who deleted image id through DeleteImage, if anyone did.
func (p *peers) Deleted(id string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sub, ok := p.deleted[id]
	return sub, ok
}

type analysisPeer struct {
	analysisv1.UnimplementedAnalysisServiceServer
	p *peers
}

func (a analysisPeer) ExportUserData(context.Context, *analysisv1.ExportUserDataRequest) (*analysisv1.ExportUserDataResponse, error) {
	if !a.p.analysisReady {
		return nil, status.Error(codes.Unimplemented, "not yet")
	}
	return &analysisv1.ExportUserDataResponse{}, nil
}

type generationPeer struct {
	generationv1.UnimplementedGenerationServiceServer
}

func (generationPeer) ExportUserData(_ context.Context, r *generationv1.ExportUserDataRequest) (*generationv1.ExportUserDataResponse, error) {
	if r.GetUserId() == "" {
		return nil, status.Error(codes.InvalidArgument, "user_id required")
	}
	return &generationv1.ExportUserDataResponse{Jobs: []*generationv1.Job{
		{Id: "job-old-" + r.GetUserId(), CreateTime: timestamppb.New(time.Unix(1000, 0))},
		{Id: "job-new-" + r.GetUserId(), CreateTime: timestamppb.New(time.Unix(2000, 0))},
	}}, nil
}
