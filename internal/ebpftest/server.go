package ebpftest

import (
	"io"
	"net"
)

// DiscardServer accepts TCP connections on a loopback port, reads each until
// the peer closes it, then closes its side.
type DiscardServer struct{ ln net.Listener }

// NewDiscardServer listens on 127.0.0.1 on a free port (IPv4: the receiver's
// ground-truth tests compare IPv4 addresses).
func NewDiscardServer() (*DiscardServer, error) { return NewDiscardServerOn("127.0.0.1") }

// NewDiscardServerOn listens on a free port of an IPv4 address of this host,
// e.g. any of 127.0.0.0/8 for distinct loopback peers.
func NewDiscardServerOn(host string) (*DiscardServer, error) {
	ln, err := net.Listen("tcp4", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	s := &DiscardServer{ln: ln}
	go s.serve()
	return s, nil
}

func (s *DiscardServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		go func() {
			_, _ = io.Copy(io.Discard, c)
			_ = c.Close()
		}()
	}
}

// Addr is the address to dial, host:port.
func (s *DiscardServer) Addr() string { return s.ln.Addr().String() }

// Close stops accepting; connections being read end on their own.
func (s *DiscardServer) Close() error { return s.ln.Close() }
