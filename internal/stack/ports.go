package stack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
)

// PortInUseError says which port a part could not bind and the flag that
// changes it.
type PortInUseError struct {
	Part string
	Port int
	Flag string
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d for %s is already in use on 127.0.0.1: free it or choose another with %s", e.Port, e.Part, e.Flag)
}

// Free ports are picked below Linux's ephemeral range (32768-60999 by
// default): a port taken from that range can be grabbed by any outgoing
// connection in the moment between releasing the reservation and the part
// binding it, which made parallel stacks under load fail at random.
const (
	freePortMin = 20000
	freePortMax = 32000
)

// reservePort binds the port (0 = a free one) and keeps the listener open
// until the part is about to start, so no other part or concurrent stack
// is handed the same port in the meantime.
func reservePort(part, flag string, port int) (net.Listener, int, error) {
	if port == 0 {
		return reserveFreePort(part)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, 0, &PortInUseError{Part: part, Port: port, Flag: flag}
		}
		return nil, 0, fmt.Errorf("reserve a port for %s: %w", part, err)
	}
	return l, port, nil
}

func reserveFreePort(part string) (net.Listener, int, error) {
	var last error
	for range 200 {
		port := freePortMin + rand.IntN(freePortMax-freePortMin)
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
		if err == nil {
			return l, port, nil
		}
		last = err
	}
	return nil, 0, fmt.Errorf("find a free port for %s between %d and %d: %w", part, freePortMin, freePortMax, last)
}

// portFree reports whether nothing listens on the loopback port.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

const loopback = "127.0.0.1"

func hostPort(port int) string { return net.JoinHostPort(loopback, strconv.Itoa(port)) }

// freePort returns a loopback port free right now (for secondary listeners
// nobody types by hand, such as the demo's admin port).
func freePort() (int, error) {
	l, port, err := reserveFreePort("a secondary listener")
	if err != nil {
		return 0, err
	}
	l.Close()
	return port, nil
}
