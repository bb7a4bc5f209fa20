package probe

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// ICMP echo types (RFC 792).
const (
	icmpEchoReply   = 0
	icmpEchoRequest = 8
)

// Ping sends one ICMP echo request to ip and waits for its reply, until
// ctx ends. It uses an unprivileged ICMP datagram socket where the host
// allows one (sysctl net.ipv4.ping_group_range) and a raw socket
// otherwise, which needs root or CAP_NET_RAW; without either it fails
// with an error that says so. IPv4 only.
func Ping(ctx context.Context, ip string) (time.Duration, error) {
	addr := net.ParseIP(ip).To4()
	if addr == nil {
		return 0, permanentError{fmt.Errorf("ping %s: only IPv4 addresses can be pinged", ip)}
	}
	conn, dst, err := icmpConn(addr)
	if err != nil {
		return 0, permanentError{err}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}

	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	id := binary.BigEndian.Uint16(nonce[:2])
	seq := binary.BigEndian.Uint16(nonce[2:4])
	payload := append([]byte("podvm-migrate check "), nonce[:]...)
	msg := make([]byte, 8+len(payload))
	msg[0] = icmpEchoRequest
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	copy(msg[8:], payload)
	binary.BigEndian.PutUint16(msg[2:], checksum(msg))

	start := time.Now()
	if _, err := conn.WriteTo(msg, dst); err != nil {
		return 0, fmt.Errorf("ping %s: %w", ip, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, fmt.Errorf("ping %s: no echo reply: %w", ip, context.DeadlineExceeded)
			}
			return 0, fmt.Errorf("ping %s: %w", ip, err)
		}
		// A datagram socket's kernel rewrites the identifier (and keeps
		// only our replies); a raw socket sees every ICMP message, our own
		// request too when pinging this host. Match on type, sequence and
		// payload.
		r := buf[:n]
		if n < 8 || r[0] != icmpEchoReply || binary.BigEndian.Uint16(r[6:]) != seq || string(r[8:]) != string(payload) || !sameIP(from, addr) {
			continue
		}
		return time.Since(start), nil
	}
}

// icmpConn opens an ICMP socket: a datagram one when allowed, raw otherwise.
func icmpConn(ip net.IP) (net.PacketConn, net.Addr, error) {
	fd, dgramErr := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_ICMP)
	if dgramErr == nil {
		f := os.NewFile(uintptr(fd), "icmp")
		var c net.PacketConn
		c, dgramErr = net.FilePacketConn(f)
		f.Close()
		if dgramErr == nil {
			return c, &net.UDPAddr{IP: ip}, nil
		}
	}
	c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err == nil {
		return c, &net.IPAddr{IP: ip}, nil
	}
	return nil, nil, fmt.Errorf("ping %s: no ICMP socket: an unprivileged one is refused (%v; allow this group in sysctl net.ipv4.ping_group_range) and a raw one needs root or CAP_NET_RAW (%v)", ip, dgramErr, err)
}

func sameIP(a net.Addr, ip net.IP) bool {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.IP.Equal(ip)
	case *net.IPAddr:
		return a.IP.Equal(ip)
	}
	return false
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
