//go:build linux

package ebpfreceiver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// edgeWorkload (in the test cgroup): connect to args[0], write args[1] bytes,
// print "sent", wait for a line, close gracefully, then connect to each of
// args[2:] (expected refused) and exit.
func edgeWorkload(args []string) int {
	size, _ := strconv.Atoi(args[1])
	c, err := net.Dial("tcp4", args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := c.Write(make([]byte, size)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("sent")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c)
	_ = c.Close()
	for _, a := range args[2:] {
		if c, err := net.Dial("tcp4", a); err == nil {
			_ = c.Close()
			fmt.Fprintln(os.Stderr, "connect to", a, "succeeded, want refused")
			return 1
		}
	}
	return 0
}

// edgeValue sums the data points of an edge metric of the cgroup at path
// whose attributes include attrs.
func (s *sinks) edgeValue(path, name string, attrs ...string) int64 {
	return s.latest(path).sum(name, attrs...)
}

// ownCgroupPath is the test process's cgroup v2 path (where the test's servers run).
func ownCgroupPath(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if rest, ok := strings.CutPrefix(l, "0::"); ok {
			return rest
		}
	}
	t.Skip("no cgroup v2 entry in /proc/self/cgroup")
	return ""
}

// A long-lived connection reports its bytes while it is open, on the client's
// edge (peer address and port, side client) and on the server's (peer
// address, side server); its close and a refused connect are counted.
func TestTCPEdgesGroundTruth(t *testing.T) {
	s := startReceiver(t, func(c *Config) { c.TCP.Edges.Enabled = true })
	cg := newTestCgroup(t)
	addr := tcpServer(t)
	_, port, _ := net.SplitHostPort(addr)
	// A port nobody listens on: bound and closed again.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	refused := ln.Addr().String()
	_, refusedPort, _ := net.SplitHostPort(refused)
	require.NoError(t, ln.Close())

	const size = 300000
	w := startWorkload(t, cg, "edge", addr, strconv.Itoa(size), refused)
	w.go_(t)
	line, err := w.stdout.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "sent\n", line)

	client := []string{"network.peer.address", "127.0.0.1", "network.peer.port", port, "tcp.connection.side", "client"}
	eventually(t, "the open connection's bytes on the client edge", func() (bool, string) {
		sent := s.edgeValue(cg.Path, "ebpf.tcp.edge.io", append(client, "network.io.direction", "transmit")...)
		opened := s.edgeValue(cg.Path, "ebpf.tcp.edge.connections.opened", client...)
		closed := s.edgeValue(cg.Path, "ebpf.tcp.edge.connections.closed", client...)
		return sent == size && opened == 1 && closed == 0, fmt.Sprintf("sent=%d opened=%d closed=%d", sent, opened, closed)
	})
	// The server's side of the same connection, in the test process's cgroup.
	own := ownCgroupPath(t)
	server := []string{"network.peer.address", "127.0.0.1", "tcp.connection.side", "server"}
	eventually(t, "the open connection's bytes on the server edge", func() (bool, string) {
		got := s.edgeValue(own, "ebpf.tcp.edge.io", append(server, "network.io.direction", "receive")...)
		return got >= size, fmt.Sprintf("server edges received %d", got)
	})

	_, err = io.WriteString(w.stdin, "close\n")
	require.NoError(t, err)
	require.Equal(t, 0, w.wait(t))
	failedAttrs := []string{"network.peer.address", "127.0.0.1", "network.peer.port", refusedPort, "tcp.connection.side", "client"}
	eventually(t, "close and refused connect counted", func() (bool, string) {
		closed := s.edgeValue(cg.Path, "ebpf.tcp.edge.connections.closed", client...)
		failed := s.edgeValue(cg.Path, "ebpf.tcp.edge.connections.failed", failedAttrs...)
		return closed == 1 && failed == 1, fmt.Sprintf("closed=%d failed=%d", closed, failed)
	})
	v := s.latest(cg.Path)
	require.EqualValues(t, size, v.sum("ebpf.tcp.edge.io", append(client, "network.io.direction", "transmit")...),
		"bytes flushed while open are not counted again at close")
	require.EqualValues(t, 0, v.sum("ebpf.tcp.edge.io", append(client, "network.io.direction", "receive")...))
	require.EqualValues(t, 0, v.sum("ebpf.tcp.edge.connections.opened", failedAttrs...))
	require.NotZero(t, v.histCount("ebpf.tcp.edge.srtt"))
	requireDeclared(t, s.metrics.AllMetrics())
}

// Beyond max_edges, connections count in the overflow edge, on the overflow resource.
func TestTCPEdgesOverflow(t *testing.T) {
	s := startReceiver(t, func(c *Config) { c.TCP.Edges.Enabled, c.TCP.Edges.MaxEdges = true, 1 })
	cg := newTestCgroup(t)
	const n = 3
	var addrs []string
	for range n {
		a := tcpServer(t)
		addrs = append(addrs, a)
	}
	// n connections to n distinct peers: at most one of them fits the one-edge table.
	w := startWorkload(t, cg, "tcp", "1", addrs[0], "10")
	w.go_(t)
	require.Equal(t, 0, w.wait(t))
	for _, a := range addrs[1:] {
		w := startWorkload(t, cg, "tcp", "1", a, "10")
		w.go_(t)
		require.Equal(t, 0, w.wait(t))
	}
	eventually(t, "connections beyond max_edges in the overflow edge", func() (bool, string) {
		var opened int64
		all := s.metrics.AllMetrics()
		for _, md := range all[max(0, len(all)-1):] {
			rms := md.ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				if o, ok := rms.At(i).Resource().Attributes().Get(attrCgroupOverflow); !ok || !o.Bool() {
					continue
				}
				v := &cgroupValues{resource: rms.At(i).Resource(), metrics: metricsByName(rms.At(i).ScopeMetrics().At(0).Metrics())}
				opened += v.sum("ebpf.tcp.edge.connections.opened")
			}
		}
		return opened >= n-1, fmt.Sprintf("overflow edge opened=%d", opened)
	})
}

func metricsByName(ms pmetric.MetricSlice) map[string]pmetric.Metric {
	out := map[string]pmetric.Metric{}
	for i := 0; i < ms.Len(); i++ {
		out[ms.At(i).Name()] = ms.At(i)
	}
	return out
}
