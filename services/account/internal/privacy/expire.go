package privacy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

// ExpiryStore is what the expirer needs of the store.
type ExpiryStore interface {
	ExportsToExpire(ctx context.Context, before time.Time, limit int) ([]identity.Export, error)
	MarkExportExpired(ctx context.Context, exportID string) error
}

// Expirer deletes export zips identity.ExportRetention after they were
// made: an export holds everything about its user. The zip is an image of
// its user in media, so the expirer deletes it as that user, with an access
// token account signs for the purpose (account is the issuer of every user
// token; this one lives for a minute and is used for one call).
type Expirer struct {
	Store  ExpiryStore
	Media  mediav1.MediaServiceClient
	Signer func(ctx context.Context) (*authn.Signer, error)
	Logger *slog.Logger
	Now    func() time.Time
	// Every is the pause between passes (default 1 h).
	Every time.Duration
}

// Run expires exports until ctx ends, a pass at start and then every Every.
func (e *Expirer) Run(ctx context.Context) error {
	every := e.Every
	if every <= 0 {
		every = time.Hour
	}
	for {
		if n, err := e.ExpireOnce(ctx); err != nil && ctx.Err() == nil {
			e.Logger.WarnContext(ctx, "export expiry pass failed; retrying next pass", "expired", n, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// ExpireOnce deletes the zips of every export past its retention and
// returns how many it expired.
func (e *Expirer) ExpireOnce(ctx context.Context) (int, error) {
	n := 0
	for {
		exports, err := e.Store.ExportsToExpire(ctx, e.Now().Add(-identity.ExportRetention), 100)
		if err != nil {
			return n, err
		}
		for _, x := range exports {
			if err := e.deleteZip(ctx, x); err != nil {
				return n, err
			}
			if err := e.Store.MarkExportExpired(ctx, x.ID); err != nil {
				return n, err
			}
			n++
			e.Logger.InfoContext(ctx, "export expired; its zip was deleted", "export_id", x.ID)
		}
		if len(exports) < 100 {
			return n, nil
		}
	}
}

func (e *Expirer) deleteZip(ctx context.Context, x identity.Export) error {
	if x.ImageID == "" {
		return nil
	}
	signer, err := e.Signer(ctx)
	if err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	tok, err := signer.Sign(authn.Caller{UserID: x.UserID}, e.Now())
	if err != nil {
		return fmt.Errorf("sign a token for %s: %w", x.UserID, err)
	}
	ctx, cancel := context.WithTimeout(authn.WithCaller(ctx, authn.Caller{UserID: x.UserID, Token: tok}), time.Minute)
	defer cancel()
	_, err = e.Media.DeleteImage(ctx, &mediav1.DeleteImageRequest{ImageId: x.ImageID})
	if err != nil && apperr.KindOf(apperr.FromStatus(err)) != apperr.KindNotFound {
		return fmt.Errorf("delete export zip %s: %w", x.ImageID, apperr.FromStatus(err))
	}
	return nil
}
