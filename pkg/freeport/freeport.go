// Package freeport picks loopback TCP ports for processes a program starts
// and tells where to listen (the local runner, test suites).
//
// A port from a "127.0.0.1:0" listener is an ephemeral port: once closed,
// the kernel hands it out again to the next program that listens on port 0
// or makes an outgoing connection, and with test suites running side by
// side that happened between the pick and the child's bind ("address
// already in use"). Ports below the ephemeral range are never given out by
// the kernel, so a port picked there at random and found free is taken
// only by another program that chose the same number.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the bottom of the range Pick draws from: above the ports
// servers are commonly configured on.
const lowest = 10000

// Pick returns a port on 127.0.0.1 that is free now, is not in taken, and
// is below the kernel's ephemeral range; it adds the port to taken (which
// may be nil).
func Pick(taken map[int]bool) (int, error) {
	hi := ephemeralStart() - 1
	if hi <= lowest {
		return 0, fmt.Errorf("find a free port: the ephemeral range starts at %d, leaving no ports above %d", hi+1, lowest)
	}
	for range 200 {
		port := lowest + rand.IntN(hi-lowest+1)
		if taken[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		if err := l.Close(); err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		if taken != nil {
			taken[port] = true
		}
		return port, nil
	}
	return 0, errors.New("find a free port: 200 tries found none")
}

// ephemeralStart is the first port of Linux's ephemeral range, or the
// IANA range's 49152 where /proc does not say.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 0 {
				return n
			}
		}
	}
	return 49152
}
