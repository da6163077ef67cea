//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-custom/otelcol-custom/internal/ebpftest"
)

// TestEBPFInDefaultPipeline runs the binary on testdata/pipeline.yaml (eBPF receiver included) with
// TCP spans on and a 1 s collection interval, makes TCP connections and execs, and checks that
// eBPF metrics reach the Prometheus endpoint and eBPF spans and logs reach the debug exporter.
func TestEBPFInDefaultPipeline(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root (or CAP_BPF+CAP_PERFMON); CI runs this test as root")
	}
	p := startDefaultPipeline(t,
		"receivers::ebpf::collection_interval=1s",
		"receivers::ebpf::tcp::spans=true",
		"receivers::ebpf::on_start_error=fail",
	)
	col, promPort, telPort := p.col, p.promPort, p.telPort

	// Workload: TCP connections carrying data, and a few execs.
	srv, err := ebpftest.NewDiscardServer()
	require.NoError(t, err)
	defer srv.Close()
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", srv.Addr())
		require.NoError(t, err)
		_, _ = c.Write([]byte("hello from the e2e test " + strconv.Itoa(i)))
		c.Close()
	}
	for i := 0; i < 3; i++ {
		require.NoError(t, exec.Command("/bin/true").Run())
	}

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, body := httpGet(t, fmt.Sprintf("http://%s/metrics", addr(promPort)))
		assert.Contains(c, body, "ebpf_tcp_connections_opened")
		assert.Contains(c, body, "ebpf_sched_context_switches")
		assert.Contains(c, body, "ebpf_memory_pages_allocated")
	}, 30*time.Second, 500*time.Millisecond, "eBPF metrics on the Prometheus endpoint")

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got := map[string]int{}
		for _, m := range debugCount.FindAllStringSubmatch(col.Output.String(), -1) {
			n, _ := strconv.Atoi(m[2])
			got[m[1]] += n
		}
		assert.GreaterOrEqual(c, got["spans"], 20, "one span per TCP connection")
		assert.Greater(c, got["log records"], 0, "exec/exit log records")
	}, 30*time.Second, 500*time.Millisecond)

	_, self := httpGet(t, fmt.Sprintf("http://%s/metrics", addr(telPort)))
	assert.Contains(t, self, "otelcol_receiver_ebpf", "eBPF receiver self-metrics on the collector's telemetry endpoint")
}
