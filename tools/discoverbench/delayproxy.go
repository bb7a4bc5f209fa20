package main

import (
	"context"
	"net"
	"sync"
	"time"
)

// delayProxy forwards TCP connections to a target, holding every chunk of
// bytes back for half the round-trip time in each direction: the
// user-space stand-in for tc netem on kernels without sch_netem.
type delayProxy struct {
	ln     net.Listener
	target string
	half   time.Duration
	wg     sync.WaitGroup
}

// startDelayProxy listens on 127.0.0.1 and forwards to target with rtt added.
func startDelayProxy(ctx context.Context, target string, rtt time.Duration) (*delayProxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, target: target, half: rtt / 2}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the host:port clients connect to.
func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting and waits for open connections to end.
func (p *delayProxy) Close() {
	p.ln.Close()
	p.wg.Wait()
}

func (p *delayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *delayProxy) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() { p.pump(server, client); done <- struct{}{} }()
	go func() { p.pump(client, server); done <- struct{}{} }()
	<-done
}

type chunk struct {
	due  time.Time
	data []byte
}

// pump copies src to dst, delivering each chunk half an RTT after it was read.
func (p *delayProxy) pump(dst, src net.Conn) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(p.half), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	for range q { // drain so the reader can finish
	}
}
