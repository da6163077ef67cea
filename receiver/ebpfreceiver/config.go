package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadata"
)

// OnStartError values.
const (
	OnStartErrorFail   = "fail"
	OnStartErrorReport = "report"
)

// Histogram kinds.
const (
	HistogramExponential = "exponential"
	HistogramExplicit    = "explicit"
)

// Config of the ebpf receiver.
type Config struct {
	// CollectionInterval is how often the kernel maps are read and metrics emitted.
	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	// Histogram selects how the kernel's log2 histograms are emitted:
	// "exponential" (exact, scale 0) or "explicit" (bounds 1, 2, 4, ..., also exact).
	Histogram string `mapstructure:"histogram"`
	// MaxCgroups caps the cgroups tracked per signal; data of further cgroups is
	// folded into one overflow series and counted. The size fields are ints, not the uint32 the
	// kernel maps take: decoding into uint32 silently wraps 2^32+4096 to 4096, an int keeps what
	// was written so Validate can reject it.
	MaxCgroups int `mapstructure:"max_cgroups"`
	// RingBufferSize is the size in bytes of the BPF ring buffer carrying
	// discrete events (a power of two and a multiple of the page size).
	RingBufferSize int `mapstructure:"ring_buffer_size"`
	// Cgroups filters the cgroups whose data is emitted.
	Cgroups CgroupFilter `mapstructure:"cgroups"`

	TCP       TCPConfig       `mapstructure:"tcp"`
	Scheduler SchedulerConfig `mapstructure:"scheduler"`
	Memory    SignalConfig    `mapstructure:"memory"`

	// OnStartError decides what a failed Start (no BTF, missing capabilities,
	// verifier rejection, not Linux) does: "fail" (default) stops the
	// collector from starting; "report" logs the error, reports the receiver
	// as permanently failed through component status and lets the rest of the
	// collector run without eBPF data.
	OnStartError string `mapstructure:"on_start_error"`

	// ProgramStats enables the kernel's BPF run-time statistics (BPF_ENABLE_STATS)
	// while the receiver runs, reported as receiver self-metrics. Off by default:
	// the statistics are system-wide, so every BPF program on the node (a CNI's
	// datapath included) pays two clock reads per run while they are on
	// (bench/ebpf -stats-cost measures it).
	ProgramStats bool `mapstructure:"program_stats"`

	// Metrics switches single metrics off: `metrics: {<name>: {enabled: false}}`
	// (names in documentation.md). Generated from metadata.yaml by mdatagen.
	Metrics metadata.MetricsConfig `mapstructure:"metrics"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SignalConfig switches one signal on or off.
type SignalConfig struct {
	Enabled bool `mapstructure:"enabled"`
}

// Run-queue latency sources (scheduler.run_queue_latency).
const (
	RunQueueLatencyWakeup    = "wakeup"
	RunQueueLatencySchedInfo = "sched_info"
)

// SchedulerConfig configures the scheduler signal.
type SchedulerConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// RunQueueLatency selects where a run-queue wait starts. "wakeup"
	// (default): the receiver timestamps every wakeup (sched_wakeup,
	// sched_wakeup_new) and preemption itself. "sched_info": the kernel's own
	// schedstat timestamp (task->sched_info.last_queued, CONFIG_SCHED_INFO) is
	// read at the switch, so no program runs on wakeups at all: less than
	// half the kernel cost per switch-and-wakeup, at the price of the
	// kernel's accounting (see README).
	RunQueueLatency string `mapstructure:"run_queue_latency"`
}

// TCPConfig configures the TCP signal.
type TCPConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Spans emits one span per TCP connection, from establishment to close.
	Spans bool `mapstructure:"spans"`
	// PerPeer adds a breakdown of closed connections by peer address/port.
	PerPeer PerPeerConfig `mapstructure:"per_peer"`
	// Edges adds the network map's edges: per peer and side, bytes of open
	// connections every interval, opens, closes, failed connects,
	// retransmits and RTT (edges_linux.go).
	Edges EdgesConfig `mapstructure:"edges"`
}

// EdgesConfig configures the TCP edges (tcp.edges).
type EdgesConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// MaxEdges caps the (cgroup, peer, peer port, side) edges in the kernel;
	// beyond it connections count in one overflow edge.
	MaxEdges int `mapstructure:"max_edges"`
	// IdleTimeout is how long an edge without open connections and without
	// any change in its counters stays in the kernel table; then the receiver
	// deletes it, so the table holds current traffic and not every peer ever
	// seen (pod IPs churn). An edge seen again later starts a new cumulative
	// series (edges_linux.go: expireIdleEdges).
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
}

// PerPeerConfig configures the per-peer TCP breakdown.
type PerPeerConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// MaxSeries caps the (cgroup, peer) series; connections beyond the cap
	// are only counted in the per-cgroup totals and the overflow counter.
	MaxSeries int `mapstructure:"max_series"`
}

// CgroupFilter selects cgroups by their path relative to the cgroup2 mount
// (for example "/kubepods.slice/..."). Exclude wins over include; an empty
// include list includes everything.
type CgroupFilter struct {
	Include []string `mapstructure:"include"`
	Exclude []string `mapstructure:"exclude"`
}

var _ component.Config = (*Config)(nil)

const (
	defaultCollectionInterval = 10 * time.Second
	defaultMaxCgroups         = 4096
	defaultRingBufferSize     = 256 * 1024
	defaultPeerMaxSeries      = 1024
	defaultMaxEdges           = 4096
	defaultEdgeIdleTimeout    = 5 * time.Minute
	maxMaxCgroups             = 1 << 20
	maxRingBufferSize         = 1 << 30
)

func createDefaultConfig() component.Config {
	return &Config{
		CollectionInterval: defaultCollectionInterval,
		Histogram:          HistogramExponential,
		MaxCgroups:         defaultMaxCgroups,
		RingBufferSize:     defaultRingBufferSize,
		TCP: TCPConfig{Enabled: true, PerPeer: PerPeerConfig{MaxSeries: defaultPeerMaxSeries},
			Edges: EdgesConfig{MaxEdges: defaultMaxEdges, IdleTimeout: defaultEdgeIdleTimeout}},
		Scheduler:    SchedulerConfig{Enabled: true, RunQueueLatency: RunQueueLatencyWakeup},
		Memory:       SignalConfig{Enabled: true},
		ProgramStats: false,
		OnStartError: OnStartErrorFail,
		Metrics:      metadata.DefaultMetricsConfig(),
	}
}

// Validate checks the configuration; every error names the key and the fix.
func (c *Config) Validate() error {
	var errs []error
	if c.CollectionInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("collection_interval %v is too short: use at least 100ms (default 10s)", c.CollectionInterval))
	}
	if c.Histogram != HistogramExponential && c.Histogram != HistogramExplicit {
		errs = append(errs, fmt.Errorf("histogram %q is unknown: use %q or %q", c.Histogram, HistogramExponential, HistogramExplicit))
	}
	if c.OnStartError != OnStartErrorFail && c.OnStartError != OnStartErrorReport {
		errs = append(errs, fmt.Errorf("on_start_error %q is unknown: use %q or %q", c.OnStartError, OnStartErrorFail, OnStartErrorReport))
	}
	if c.MaxCgroups < 1 || c.MaxCgroups > maxMaxCgroups {
		errs = append(errs, fmt.Errorf("max_cgroups %d is out of range: use 1..%d (default %d)", c.MaxCgroups, maxMaxCgroups, defaultMaxCgroups))
	}
	page := os.Getpagesize()
	switch rb := c.RingBufferSize; {
	case rb <= 0 || rb&(rb-1) != 0:
		errs = append(errs, fmt.Errorf("ring_buffer_size %d is not a power of two: use e.g. %d", rb, defaultRingBufferSize))
	case rb%page != 0:
		errs = append(errs, fmt.Errorf("ring_buffer_size %d is not a multiple of the page size %d", rb, page))
	case rb > maxRingBufferSize:
		errs = append(errs, fmt.Errorf("ring_buffer_size %d is larger than %d", rb, maxRingBufferSize))
	}
	if c.TCP.PerPeer.MaxSeries < 1 || c.TCP.PerPeer.MaxSeries > maxMaxCgroups {
		errs = append(errs, fmt.Errorf("tcp.per_peer.max_series %d is out of range: use 1..%d", c.TCP.PerPeer.MaxSeries, maxMaxCgroups))
	}
	if c.TCP.Edges.MaxEdges < 1 || c.TCP.Edges.MaxEdges > maxMaxCgroups {
		errs = append(errs, fmt.Errorf("tcp.edges.max_edges %d is out of range: use 1..%d (default %d)", c.TCP.Edges.MaxEdges, maxMaxCgroups, defaultMaxEdges))
	}
	if c.TCP.Edges.Enabled && c.TCP.Edges.IdleTimeout < c.CollectionInterval {
		// An edge must be read idle by at least one collection before its deletion.
		errs = append(errs, fmt.Errorf("tcp.edges.idle_timeout %v is shorter than collection_interval %v: set it to at least the collection interval (default %v)",
			c.TCP.Edges.IdleTimeout, c.CollectionInterval, defaultEdgeIdleTimeout))
	}
	if c.TCP.Edges.Enabled && !c.TCP.Enabled {
		errs = append(errs, errors.New("tcp.edges.enabled needs tcp.enabled: true"))
	}
	if c.Scheduler.RunQueueLatency != RunQueueLatencyWakeup && c.Scheduler.RunQueueLatency != RunQueueLatencySchedInfo {
		errs = append(errs, fmt.Errorf("scheduler.run_queue_latency %q is unknown: use %q (default) or %q",
			c.Scheduler.RunQueueLatency, RunQueueLatencyWakeup, RunQueueLatencySchedInfo))
	}
	if c.TCP.Spans && !c.TCP.Enabled {
		errs = append(errs, errors.New("tcp.spans needs tcp.enabled: true"))
	}
	if c.TCP.PerPeer.Enabled && !c.TCP.Enabled {
		errs = append(errs, errors.New("tcp.per_peer.enabled needs tcp.enabled: true"))
	}
	if !c.TCP.Enabled && !c.Scheduler.Enabled && !c.Memory.Enabled {
		errs = append(errs, errors.New("no signal enabled: set enabled: true in at least one of tcp, scheduler, memory"))
	}
	if _, err := c.Cgroups.compile(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, unsupportedMetricSettings(c.Metrics)...)
	return errors.Join(errs...)
}

// cgroupMatcher is the compiled form of a CgroupFilter.
type cgroupMatcher struct {
	include, exclude []*regexp.Regexp
}

func (f CgroupFilter) compile() (*cgroupMatcher, error) {
	m := &cgroupMatcher{}
	var errs []error
	for i, p := range f.Include {
		re, err := regexp.Compile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroups.include[%d] %q is not a valid regular expression: %w", i, p, err))
			continue
		}
		m.include = append(m.include, re)
	}
	for i, p := range f.Exclude {
		re, err := regexp.Compile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroups.exclude[%d] %q is not a valid regular expression: %w", i, p, err))
			continue
		}
		m.exclude = append(m.exclude, re)
	}
	return m, errors.Join(errs...)
}

// Match reports whether data of the cgroup at path is emitted.
func (m *cgroupMatcher) Match(path string) bool {
	for _, re := range m.exclude {
		if re.MatchString(path) {
			return false
		}
	}
	if len(m.include) == 0 {
		return true
	}
	for _, re := range m.include {
		if re.MatchString(path) {
			return true
		}
	}
	return false
}
