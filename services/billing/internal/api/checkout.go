package api

import (
	"context"

	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
)

// ListPacks returns the packs on sale.
func (s *Server) ListPacks(context.Context, *billingv1.ListPacksRequest) (*billingv1.ListPacksResponse, error) {
	resp := &billingv1.ListPacksResponse{}
	for _, p := range s.checkout.Packs() {
		resp.Packs = append(resp.Packs, packToProto(p))
	}
	return resp, nil
}

// CreateCheckoutSession starts buying a pack for the caller.
func (s *Server) CreateCheckoutSession(ctx context.Context, req *billingv1.CreateCheckoutSessionRequest) (*billingv1.CreateCheckoutSessionResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	url, purchaseID, err := s.checkout.CreateCheckoutSession(ctx, user, req.GetPackId())
	if err != nil {
		return nil, err
	}
	return &billingv1.CreateCheckoutSessionResponse{Url: url, PurchaseId: purchaseID}, nil
}

// ConfirmTestCheckout completes the caller's test-mode purchase.
func (s *Server) ConfirmTestCheckout(ctx context.Context, req *billingv1.ConfirmTestCheckoutRequest) (*billingv1.ConfirmTestCheckoutResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.checkout.ConfirmTestCheckout(ctx, user, req.GetPurchaseId())
	if err != nil {
		return nil, err
	}
	return &billingv1.ConfirmTestCheckoutResponse{Purchase: purchaseToProto(p)}, nil
}

// GetBillingDetails returns the caller's billing details.
func (s *Server) GetBillingDetails(ctx context.Context, _ *billingv1.GetBillingDetailsRequest) (*billingv1.GetBillingDetailsResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.checkout.Details(ctx, user)
	if err != nil {
		return nil, err
	}
	return &billingv1.GetBillingDetailsResponse{Details: detailsToProto(d)}, nil
}

// HandleStripeWebhook applies a Stripe delivery forwarded by the gateway.
func (s *Server) HandleStripeWebhook(ctx context.Context, req *billingv1.HandleStripeWebhookRequest) (*billingv1.HandleStripeWebhookResponse, error) {
	if err := s.checkout.HandleWebhook(ctx, req.GetPayload(), req.GetSignature()); err != nil {
		return nil, err
	}
	return &billingv1.HandleStripeWebhookResponse{}, nil
}
