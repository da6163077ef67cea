//go:build linux

package probes

import (
	"errors"
	"fmt"
	"io"
)

// Sides of an edge, as enum tcp_edge_side in bpf/tcp_edges.bpf.h.
const (
	EdgeSideClient = 1
	EdgeSideServer = 2
)

// OverflowEdge is the key of the edge that collects what the full edge table
// could not take (bpf/tcp_edges.bpf.h: edge_stats).
var OverflowEdge = ProbesTcpEdgeKey{CgroupId: OverflowCgroupID}

// FlushEdges runs the edge iterator once: every open connection adds what it
// sent, received and retransmitted since the previous run to its edge, so
// TCPEdges then holds current values for long-lived connections too. The
// cost is one program run per open connection, in the calling thread. It
// does nothing when the iterator is not attached (no tcp.edges, or a kernel
// that refused it: edges then count at close only).
func (s *Set) FlushEdges() error {
	if s.edgeIter == nil {
		return nil
	}
	r, err := s.edgeIter.Open()
	if err != nil {
		return fmt.Errorf("running the edge iterator: %w", err)
	}
	// The program prints nothing; reading to the end runs it over every element.
	_, err = io.Copy(io.Discard, r)
	return errors.Join(err, r.Close())
}
