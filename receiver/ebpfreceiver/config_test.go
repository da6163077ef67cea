package ebpfreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func loadConfig(t *testing.T, id string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	var cid component.ID
	require.NoError(t, cid.UnmarshalText([]byte(id)))
	sub, err := cm.Sub(cid.String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(t, "ebpf")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), cfg)
	assert.Equal(t, 10*time.Second, cfg.CollectionInterval)
	assert.Equal(t, HistogramExponential, cfg.Histogram)
	assert.EqualValues(t, 4096, cfg.MaxCgroups)
	assert.True(t, cfg.TCP.Enabled && cfg.Scheduler.Enabled && cfg.Memory.Enabled)
	assert.False(t, cfg.TCP.Spans)
}

func TestConfigCustom(t *testing.T) {
	cfg, err := loadConfig(t, "ebpf/custom")
	require.NoError(t, err)
	want := createDefaultConfig().(*Config)
	want.CollectionInterval = 30 * time.Second
	want.Histogram = HistogramExplicit
	want.MaxCgroups = 512
	want.RingBufferSize = 1 << 20
	want.ProgramStats = true
	want.OnStartError = OnStartErrorReport
	want.Cgroups = CgroupFilter{Include: []string{"^/kubepods"}, Exclude: []string{"conmon"}}
	want.TCP = TCPConfig{Enabled: true, Spans: true, PerPeer: PerPeerConfig{Enabled: true, MaxSeries: 200},
		Edges: EdgesConfig{Enabled: true, MaxEdges: 300, IdleTimeout: 2 * time.Minute}}
	want.Scheduler.Enabled = false
	want.Scheduler.RunQueueLatency = RunQueueLatencySchedInfo
	assert.Equal(t, want, cfg)
}

func TestConfigErrors(t *testing.T) {
	tests := map[string]string{
		"ebpf/unknown_key":                "enabeld",
		"ebpf/bad_ring":                   "not a power of two",
		"ebpf/bad_ring_not_page_multiple": "multiple of the page size",
		"ebpf/bad_regex":                  "cgroups.include[0]",
		"ebpf/bad_histogram":              `histogram "linear" is unknown`,
		"ebpf/bad_run_queue_latency":      `scheduler.run_queue_latency "schedstat" is unknown: use "wakeup" (default) or "sched_info"`,
		"ebpf/nothing_enabled":            "no signal enabled",
		"ebpf/spans_without_tcp":          "tcp.spans needs tcp.enabled",
		"ebpf/zero_cgroups":               "max_cgroups 0 is out of range",
		"ebpf/huge_cgroups":               "max_cgroups 4294971392 is out of range",
		"ebpf/huge_ring":                  "ring_buffer_size 4295229440 is not a power of two",
		"ebpf/huge_peer_series":           "tcp.per_peer.max_series 4294967396 is out of range",
		"ebpf/bad_on_start_error":         `on_start_error "ignore" is unknown`,
		"ebpf/zero_edges":                 "tcp.edges.max_edges 0 is out of range",
		"ebpf/edges_without_tcp":          "tcp.edges.enabled needs tcp.enabled: true",
		"ebpf/short_interval":             "collection_interval 1ms is too short",
		"ebpf/short_edge_idle":            "tcp.edges.idle_timeout 5s is shorter than collection_interval 30s: set it to at least the collection interval",
	}
	for id, want := range tests {
		t.Run(id, func(t *testing.T) {
			_, err := loadConfig(t, id)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestCgroupMatcher(t *testing.T) {
	m, err := CgroupFilter{Include: []string{"^/kubepods"}, Exclude: []string{"conmon"}}.compile()
	require.NoError(t, err)
	assert.True(t, m.Match("/kubepods.slice/x.scope"))
	assert.False(t, m.Match("/kubepods.slice/crio-conmon-1.scope"))
	assert.False(t, m.Match("/system.slice/sshd.service"))
	all, err := CgroupFilter{}.compile()
	require.NoError(t, err)
	assert.True(t, all.Match("/anything"))
}
