package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// dialTCP connects to hostPort. Through a relay, the connection must then
// stay open for wait (a service that waits for its client) or bring data
// (one that speaks first, such as sshd): QEMU's hostfwd accepts on the host
// before it knows whether the guest listens, and closes the connection
// when the guest refuses it.
func dialTCP(ctx context.Context, hostPort string, relayed bool, wait time.Duration) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		if relayed && closedByRelay(err) {
			return "", fmt.Errorf("%s: the host's port forward accepted, then the guest closed the connection (%w): nothing listens on that guest port", hostPort, err)
		}
		return "", err
	}
	defer conn.Close()
	if !relayed {
		return "connected", nil
	}
	deadline := time.Now().Add(wait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetReadDeadline(deadline)
	n, err := conn.Read(make([]byte, 1))
	switch {
	case n > 0:
		return "connected; the guest spoke first", nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("connected; the guest kept the connection open for %s", wait), nil
	case closedByRelay(err):
		return "", fmt.Errorf("%s: the host's port forward accepted, then the guest closed the connection: nothing listens on that guest port", hostPort)
	}
	return "", fmt.Errorf("%s: the host's port forward accepted, then: %w", hostPort, err)
}

// closedByRelay reports whether err is a connection closed by its other
// end: an end of file, or a reset (a relay that closes with the client's
// bytes unread, or before the connect is complete, resets it).
func closedByRelay(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
