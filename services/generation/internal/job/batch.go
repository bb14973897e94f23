package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// MaxBatch bounds the images of one batch.
const MaxBatch = 50

// maxBatchRounds bounds how many times one batch request id may be refused
// and rolled back before it is spent (see CreateBatch).
const maxBatchRounds = 16

// CreateBatch starts one job per image with spec's settings (spec.ImageID
// is ignored), each through Create, so every job holds its own credits and
// queues its own work item. It returns the jobs in the order of imageIDs.
//
// All or nothing: if any job cannot be created (INSUFFICIENT_CREDITS above
// all), the jobs already created are cancelled, which releases their
// credits, and the error is returned.
//
// With a requestID the batch is idempotent: each image's job id is derived
// from it, so a retry returns the same jobs (and finishes a batch that a
// crash interrupted). A batch that was refused and rolled back left only
// cancelled jobs behind; a retry of it is a new round with new job ids,
// since nothing of the refused round is alive to be duplicated.
func (s *Service) CreateBatch(ctx context.Context, userID, requestID string, imageIDs []string, spec Spec) ([]*Job, error) {
	if err := validateBatch(imageIDs, spec); err != nil {
		return nil, err
	}
	var requestIDs []string
	if requestID != "" {
		var err error
		if requestIDs, err = s.batchRound(ctx, userID, requestID, imageIDs); err != nil {
			return nil, err
		}
	}
	jobs := make([]*Job, 0, len(imageIDs))
	for i, img := range imageIDs {
		sp := spec
		sp.ImageID = img
		var rid string
		if requestIDs != nil {
			rid = requestIDs[i]
		}
		j, err := s.Create(ctx, userID, rid, sp)
		if err != nil {
			s.rollback(ctx, userID, jobs)
			return nil, fmt.Errorf("batch image %d (%s): %w", i, img, err)
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// validateBatch checks the images and the shared settings before anything
// is held, so an invalid batch creates nothing. Violations of the settings
// are named as fields of the request's template.
func validateBatch(imageIDs []string, spec Spec) error {
	var v []apperr.Violation
	switch n := len(imageIDs); {
	case n == 0:
		v = append(v, apperr.Violation{Field: "image_ids", Description: "at least one image"})
	case n > MaxBatch:
		v = append(v, apperr.Violation{Field: "image_ids", Description: fmt.Sprintf("at most %d images", MaxBatch)})
	}
	seen := make(map[string]bool, len(imageIDs))
	for i, img := range imageIDs {
		switch {
		case strings.TrimSpace(img) == "":
			v = append(v, apperr.Violation{Field: fmt.Sprintf("image_ids[%d]", i), Description: "required"})
		case seen[img]:
			v = append(v, apperr.Violation{Field: fmt.Sprintf("image_ids[%d]", i), Description: "listed twice"})
		}
		seen[img] = true
	}
	spec.ImageID = "batch"
	if err := spec.Validate(); err != nil {
		var ae *apperr.Error
		if !errors.As(err, &ae) {
			return err
		}
		for _, sv := range ae.Violations() {
			v = append(v, apperr.Violation{Field: "template." + sv.Field, Description: sv.Description})
		}
	}
	if len(v) > 0 {
		return apperr.Invalid("invalid batch", v...)
	}
	return nil
}

// batchRound returns the per-image request ids of the round of requestID
// to run: the first round that is not a rolled-back one. A round is rolled
// back when some of its jobs exist and every one of those is cancelled but
// not all exist (a complete round is replayed as it is, even if the seller
// has since cancelled all of it).
func (s *Service) batchRound(ctx context.Context, userID, requestID string, imageIDs []string) ([]string, error) {
	for round := range maxBatchRounds {
		ids := make([]string, len(imageIDs))
		existing, canceled := 0, 0
		for i, img := range imageIDs {
			ids[i] = fmt.Sprintf("%s\x00batch\x00%d\x00%s", requestID, round, img)
			j, err := s.repo.GetJob(ctx, userID, requestJobID(userID, ids[i]))
			switch {
			case apperr.KindOf(err) == apperr.KindNotFound:
				continue
			case err != nil:
				return nil, fmt.Errorf("batch %s round %d: %w", requestID, round, err)
			}
			existing++
			if j.State == Canceled {
				canceled++
			}
		}
		if existing == 0 || existing == len(ids) || canceled < existing {
			return ids, nil
		}
	}
	return nil, apperr.Precondition("BATCH_REQUEST_SPENT",
		fmt.Sprintf("this request_id was refused %d times; send a new one", maxBatchRounds))
}

// requestJobID is the job id Create derives from a request id; it must stay
// Create's derivation.
func requestJobID(userID, requestID string) string {
	return uuid.NewSHA1(requestNamespace, []byte(userID+"\x00"+requestID)).String()
}

// rollback cancels the jobs of a refused batch, releasing their credits. It
// runs on a context of its own: the caller may have gone, and a job left
// queued would run and be charged for a batch reported as refused.
func (s *Service) rollback(ctx context.Context, userID string, jobs []*Job) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, j := range jobs {
		if j.State.Terminal() && j.State != Canceled {
			continue // finished before the batch was refused; it stands
		}
		if _, err := s.Cancel(rctx, userID, j.ID); err != nil {
			s.log.ErrorContext(ctx, "cancel a job of a refused batch", "job_id", j.ID, "error", err)
		}
	}
}
