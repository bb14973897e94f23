package gallery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// sweepBatch is how many image ids one existence query checks.
const sweepBatch = 500

// Sweep deletes blobs that have no record and were written before the
// cutoff: what a crash between writing an image's blobs and committing its
// record leaves behind, or a deletion whose blob removal failed. The cutoff
// (now minus a grace period longer than any upload) keeps it away from
// uploads in flight. It returns how many blobs it removed.
func (s *Service) Sweep(ctx context.Context, before time.Time) (int, error) {
	pending := map[string][]string{} // image id -> keys
	removed := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		ids := make([]string, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		exists, err := s.repo.Existing(ctx, ids)
		if err != nil {
			return fmt.Errorf("sweep: check records: %w", err)
		}
		var errs []error
		for id, keys := range pending {
			if exists[id] {
				continue
			}
			for _, k := range keys {
				if err := s.blobs.Delete(ctx, k); err != nil {
					errs = append(errs, err)
					continue
				}
				removed++
			}
		}
		clear(pending)
		return errors.Join(errs...)
	}
	for info, err := range s.blobs.List(ctx, userPrefix) {
		if err != nil {
			return removed, fmt.Errorf("sweep: %w", err)
		}
		if !info.ModTime.Before(before) {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(info.Key, userPrefix), "/")
		if len(parts) != 3 || checkID(parts[1]) != nil {
			continue // not a key this service writes
		}
		pending[parts[1]] = append(pending[parts[1]], info.Key)
		if len(pending) >= sweepBatch {
			if err := flush(); err != nil {
				return removed, err
			}
		}
	}
	return removed, flush()
}

// RunSweeper sweeps every interval until ctx ends, removing orphans older
// than grace. Failures are logged and retried at the next round.
func (s *Service) RunSweeper(ctx context.Context, interval, grace time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.Sweep(ctx, s.cfg.Now().Add(-grace))
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.WarnContext(ctx, "orphan sweep failed", "error", err)
		case n > 0:
			s.logger.InfoContext(ctx, "orphan blobs removed", slog.Int("blobs", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
