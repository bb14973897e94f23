package api

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	"github.com/connectengine/photoshoot/services/billing/internal/checkout"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/payments"
)

var kindToProto = map[ledger.Kind]billingv1.TransactionKind{
	ledger.KindGrantTrial:    billingv1.TransactionKind_TRANSACTION_KIND_GRANT_TRIAL,
	ledger.KindGrantPurchase: billingv1.TransactionKind_TRANSACTION_KIND_GRANT_PURCHASE,
	ledger.KindGrantAdmin:    billingv1.TransactionKind_TRANSACTION_KIND_GRANT_ADMIN,
	ledger.KindGrantPromo:    billingv1.TransactionKind_TRANSACTION_KIND_GRANT_PROMO,
	ledger.KindReserve:       billingv1.TransactionKind_TRANSACTION_KIND_RESERVE,
	ledger.KindCapture:       billingv1.TransactionKind_TRANSACTION_KIND_CAPTURE,
	ledger.KindRelease:       billingv1.TransactionKind_TRANSACTION_KIND_RELEASE,
	ledger.KindExpire:        billingv1.TransactionKind_TRANSACTION_KIND_EXPIRE,
	ledger.KindRefund:        billingv1.TransactionKind_TRANSACTION_KIND_REFUND,
	ledger.KindForfeit:       billingv1.TransactionKind_TRANSACTION_KIND_FORFEIT,
}

var reasonFromProto = map[billingv1.GrantReason]ledger.Reason{
	billingv1.GrantReason_GRANT_REASON_TRIAL:    ledger.ReasonTrial,
	billingv1.GrantReason_GRANT_REASON_PURCHASE: ledger.ReasonPurchase,
	billingv1.GrantReason_GRANT_REASON_ADMIN:    ledger.ReasonAdmin,
	billingv1.GrantReason_GRANT_REASON_PROMO:    ledger.ReasonPromo,
}

var holdStateToProto = map[ledger.HoldState]billingv1.HoldState{
	ledger.HoldHeld:     billingv1.HoldState_HOLD_STATE_HELD,
	ledger.HoldCaptured: billingv1.HoldState_HOLD_STATE_CAPTURED,
	ledger.HoldReleased: billingv1.HoldState_HOLD_STATE_RELEASED,
	ledger.HoldExpired:  billingv1.HoldState_HOLD_STATE_EXPIRED,
}

func transactionToProto(t ledger.Transaction) *billingv1.Transaction {
	return &billingv1.Transaction{
		Id:             t.ID,
		Kind:           kindToProto[t.Kind],
		AvailableDelta: t.Delta(ledger.Available),
		HeldDelta:      t.Delta(ledger.Held),
		JobId:          t.JobID,
		PurchaseId:     t.PurchaseID,
		Description:    t.Description,
		CreateTime:     timestamppb.New(t.CreateTime),
	}
}

func transactionsToProto(txs []ledger.Transaction) []*billingv1.Transaction {
	out := make([]*billingv1.Transaction, len(txs))
	for i, t := range txs {
		out[i] = transactionToProto(t)
	}
	return out
}

func holdToProto(h ledger.Hold) *billingv1.Hold {
	return &billingv1.Hold{
		Id:         h.ID,
		JobId:      h.JobID,
		UserId:     h.UserID,
		Amount:     h.Amount,
		Captured:   h.Captured,
		Released:   h.Released,
		State:      holdStateToProto[h.State],
		ExpireTime: timestamppb.New(h.ExpireTime),
		CreateTime: timestamppb.New(h.CreateTime),
	}
}

func packToProto(p checkout.Pack) *billingv1.Pack {
	return &billingv1.Pack{
		Id: p.ID, Name: p.Name, Credits: p.Credits, PriceAmount: p.Price, Currency: p.Currency, Description: p.Description,
	}
}

func purchaseToProto(p checkout.Purchase) *billingv1.Purchase {
	return &billingv1.Purchase{
		Id: p.ID, PackId: p.PackID, Credits: p.Credits, Amount: p.Amount, Currency: p.Currency,
		Status: string(p.Status), CreateTime: timestamppb.New(p.CreateTime),
	}
}

func purchasesToProto(ps []checkout.Purchase) []*billingv1.Purchase {
	out := make([]*billingv1.Purchase, len(ps))
	for i, p := range ps {
		out[i] = purchaseToProto(p)
	}
	return out
}

func detailsToProto(d payments.Details) *billingv1.BillingDetails {
	return &billingv1.BillingDetails{
		Name:  d.Name,
		Email: d.Email,
		Address: &billingv1.Address{
			Line1: d.Line1, Line2: d.Line2, City: d.City, PostalCode: d.PostalCode, State: d.State, Country: d.Country,
		},
		CardBrand: d.CardBrand,
		CardLast4: d.CardLast4,
	}
}
