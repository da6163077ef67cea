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
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-custom/otelcol-custom/internal/ebpftest"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadatatest"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
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

// clientEdges reads the kernel's edge table: the client edges of cgroup id,
// by peer "address:port".
func clientEdges(t *testing.T, set *probes.Set, id uint64) map[string]probes.ProbesTcpEdgeStats {
	t.Helper()
	out := map[string]probes.ProbesTcpEdgeStats{}
	var key probes.ProbesTcpEdgeKey
	var s probes.ProbesTcpEdgeStats
	it := set.TCPEdges.Iterate()
	for it.Next(&key, &s) {
		if key.CgroupId == id && key.Side == probes.EdgeSideClient {
			out[net.JoinHostPort(peerAddr(key.Family, key.Addr).Unmap().String(), strconv.Itoa(int(key.Port)))] = s
		}
	}
	require.NoError(t, it.Err())
	return out
}

// edgePoints lists the data points of an edge metric of the cgroup at path,
// from every batch emitted so far, whose attributes include attrs.
func (s *sinks) edgePoints(path, name string, attrs ...string) []pmetric.NumberDataPoint {
	var out []pmetric.NumberDataPoint
	for _, md := range s.metrics.AllMetrics() {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			if p, ok := rms.At(i).Resource().Attributes().Get(attrCgroupPath); !ok || p.Str() != path {
				continue
			}
			m, ok := metricsByName(rms.At(i).ScopeMetrics().At(0).Metrics())[name]
			if !ok {
				continue
			}
			for j := 0; j < m.Sum().DataPoints().Len(); j++ {
				if dp := m.Sum().DataPoints().At(j); hasAttrs(dp.Attributes(), attrs) {
					out = append(out, dp)
				}
			}
		}
	}
	return out
}

// clientAttrs are the attributes of the client edge to addr ("host:port").
func clientAttrs(addr string) []string {
	host, port, _ := net.SplitHostPort(addr)
	return []string{"network.peer.address", host, "network.peer.port", port, "tcp.connection.side", "client"}
}

// Idle edges leave the kernel table: n connections to n distinct loopback
// peers fill a table of max_edges=n; once idle for idle_timeout their edges
// are deleted (not sooner), counted in the self-metric, while the edge of an
// open but idle connection stays; afterwards the table takes new peers, and
// a peer seen again starts a new series (a later start timestamp, counts
// from zero).
func TestTCPEdgesIdleExpiry(t *testing.T) {
	requireRoot(t)
	var set *probes.Set
	testHookLoaded = func(p *probes.Set) { set = p }
	t.Cleanup(func() { testHookLoaded = nil })
	const n = 6
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.CollectionInterval = 200 * time.Millisecond
	cfg.Scheduler.Enabled, cfg.Memory.Enabled = false, false
	cfg.TCP.Edges.Enabled, cfg.TCP.Edges.MaxEdges = true, n
	cfg.TCP.Edges.IdleTimeout = 5 * cfg.CollectionInterval
	require.NoError(t, cfg.Validate())
	tt := componenttest.NewTelemetry()
	s, shutdown := startPipelines(t, cfg, metadatatest.NewSettings(tt))
	t.Cleanup(shutdown)
	require.NotNil(t, set)
	cg := newTestCgroup(t)

	// Peers 127.0.0.2 .. 127.0.0.(n+2): n to fill the table, one new after expiry.
	peers := make([]string, n+1)
	for i := range peers {
		srv, err := ebpftest.NewDiscardServerOn(fmt.Sprintf("127.0.0.%d", i+2))
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		peers[i] = srv.Addr()
	}
	connectOnce := func(addr string) {
		w := startWorkload(t, cg, "tcp", "1", addr, "10")
		w.go_(t)
		require.Equal(t, 0, w.wait(t))
	}

	// A connection that stays open and idle after its first bytes.
	holder := tcpServer(t)
	hw := startWorkload(t, cg, "edge", holder, "10")
	hw.go_(t)
	line, err := hw.stdout.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "sent\n", line)
	t.Cleanup(func() { _, _ = io.WriteString(hw.stdin, "close\n"); _ = hw.cmd.Wait() })
	eventually(t, "the idle connection's bytes in its edge", func() (bool, string) {
		e := clientEdges(t, set, cg.id)[holder]
		return e.BytesSent == 10 && e.Opened == 1, fmt.Sprintf("%+v", e)
	})

	// From t0 on the holder's edge no longer changes, and every peer's edge
	// changes last after t0: none may be gone before t0 + idle_timeout.
	t0 := time.Now()
	for _, p := range peers[:n] {
		connectOnce(p)
	}
	edges := clientEdges(t, set, cg.id)
	var present []string
	for _, p := range peers[:n] {
		if e, ok := edges[p]; ok {
			require.EqualValues(t, 1, e.Closed, p)
			present = append(present, p)
		}
	}
	require.NotEmpty(t, present)
	require.Less(t, len(present), n, "n peers and the open connection's edges exceed max_edges=n: the table overflowed")

	var gone time.Time
	deadline := t0.Add(cfg.TCP.Edges.IdleTimeout + scaled(15*time.Second))
	for gone.IsZero() {
		require.True(t, time.Now().Before(deadline), "idle edges still in the kernel table after idle_timeout")
		edges := clientEdges(t, set, cg.id)
		left := 0
		for _, p := range present {
			if _, ok := edges[p]; ok {
				left++
			}
		}
		now := time.Now()
		if left < len(present) {
			require.GreaterOrEqual(t, now.Sub(t0), cfg.TCP.Edges.IdleTimeout, "an edge expired before idle_timeout")
		}
		if left == 0 {
			gone = now
		}
		time.Sleep(cfg.CollectionInterval / 2)
	}
	// The collection that expired the last peer ran at least idle_timeout
	// after t0, when the holder's edge had been unchanged as long: only its
	// open connection kept it.
	h, ok := clientEdges(t, set, cg.id)[holder]
	require.True(t, ok, "the edge of an open idle connection was expired")
	require.EqualValues(t, 1, h.Opened)
	require.Zero(t, h.Closed)
	require.GreaterOrEqual(t, telemetrySum(t, tt, "otelcol_receiver_ebpf_tcp_edges_expired", nil), int64(len(present)))

	// A peer seen again, and a peer never seen, both get an edge of their own.
	again, fresh := present[0], peers[n]
	connectOnce(again)
	connectOnce(fresh)
	eventually(t, "a new series for the peer seen again, an edge for the new peer", func() (bool, string) {
		var restarted, total int
		for _, dp := range s.edgePoints(cg.Path, "ebpf.tcp.edge.connections.opened", clientAttrs(again)...) {
			if dp.StartTimestamp().AsTime().After(gone) {
				require.EqualValues(t, 1, dp.IntValue(), "the new series counts from zero")
				restarted++
			}
			total++
		}
		freshPoints := s.edgePoints(cg.Path, "ebpf.tcp.edge.connections.opened", clientAttrs(fresh)...)
		return restarted > 0 && len(freshPoints) > 0, fmt.Sprintf("%d of %d points of %s after the expiry, %d of %s",
			restarted, total, again, len(freshPoints), fresh)
	})
}
