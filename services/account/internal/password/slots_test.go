package password

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestHasher_capsConcurrency: with every slot taken, a further hash waits,
// and gives up when its context ends instead of allocating its memory.
func TestHasher_capsConcurrency(t *testing.T) {
	t.Parallel()
	slow := DefaultParams
	slow.Time = 8 // long enough that the slot is visibly held
	h, err := NewHasher(slow, 1)
	if err != nil {
		t.Fatal(err)
	}
	holding := make(chan error, 1)
	go func() {
		_, err := h.Hash(t.Context(), "holder")
		holding <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.slots) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("holder never took the slot")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "waiter"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash while the only slot is busy = %v, want deadline exceeded", err)
	}
	if err := <-holding; err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(t.Context(), "after"); err != nil {
		t.Errorf("Hash after the slot freed: %v", err)
	}
}
