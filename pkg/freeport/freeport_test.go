package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPickIsFreeBelowTheEphemeralRangeAndNeverTaken(t *testing.T) {
	t.Parallel()
	taken := map[int]bool{}
	for range 50 {
		port, err := Pick(taken)
		if err != nil {
			t.Fatal(err)
		}
		if port < lowest || port >= ephemeralStart() {
			t.Fatalf("port %d outside [%d, %d)", port, lowest, ephemeralStart())
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("picked port %d is not free: %v", port, err)
		}
		_ = l.Close()
	}
	if len(taken) != 50 {
		t.Errorf("%d distinct ports in taken, want 50", len(taken))
	}
}
