package stack

import (
	"errors"
	"fmt"
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

// reservePort binds the port (0 = a free ephemeral one) and keeps the
// listener open until the part is about to start, so no other part or
// concurrent stack is handed the same port in the meantime.
func reservePort(part, flag string, port int) (net.Listener, int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, 0, &PortInUseError{Part: part, Port: port, Flag: flag}
		}
		return nil, 0, fmt.Errorf("reserve a port for %s: %w", part, err)
	}
	return l, l.Addr().(*net.TCPAddr).Port, nil
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
