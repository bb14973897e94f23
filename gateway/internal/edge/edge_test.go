package edge

import (
	"testing"
)

func TestLimiterBurstThenRefuse(t *testing.T) {
	t.Parallel()
	l := NewLimiter(60, 3)
	for i := range 3 {
		if ok, _ := l.Allow("ip:1"); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("ip:1")
	if ok || wait <= 0 {
		t.Errorf("fourth request: ok=%v wait=%v, want refused with a wait", ok, wait)
	}
	if ok, _ := l.Allow("ip:2"); !ok {
		t.Error("another key shares the first key's bucket")
	}
}
