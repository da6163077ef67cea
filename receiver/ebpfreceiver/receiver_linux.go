//go:build linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/cgroupfs"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadata"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
)

// Test seams: the slot table size (0 = the default for max_cgroups), a hook
// that edits the load options (to force the compat object or a variant), and
// a hook that sees the loaded maps.
var (
	testSlotsPerCPU uint32
	testHookOptions func(*probes.Options)
	testHookLoaded  func(*probes.Set)
)

// ebpfReceiver owns the BPF programs, the map reader and the event reader.
type ebpfReceiver struct {
	cfg     *Config
	set     receiver.Settings
	metrics consumer.Metrics
	logs    consumer.Logs
	traces  consumer.Traces

	matcher  *cgroupMatcher
	hostName string
	resolver *cgroupfs.Resolver

	mu        sync.Mutex // guards probes against telemetry callbacks during Shutdown
	probes    *probes.Set
	stats     io.Closer
	telemetry *metadata.TelemetryBuilder
	events    *eventReader
	reader    *mapReader

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newEBPFReceiver(cfg *Config, set receiver.Settings, m consumer.Metrics, l consumer.Logs, t consumer.Traces) (*ebpfReceiver, error) {
	matcher, err := cfg.Cgroups.compile()
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("reading the host name for host.name: %w", err)
	}
	return &ebpfReceiver{cfg: cfg, set: set, metrics: m, logs: l, traces: t, matcher: matcher, hostName: host}, nil
}

// Start loads and attaches the BPF programs. Every failure is returned as an
// error naming cause and fix; the BPF side is left clean.
func (r *ebpfReceiver) Start(_ context.Context, _ component.Host) (err error) {
	mount, err := cgroupfs.Cgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("ebpf receiver: %w", err)
	}
	r.resolver = cgroupfs.NewResolver(mount)

	opts := probes.Options{
		TCP:              r.cfg.TCP.Enabled,
		Scheduler:        r.cfg.Scheduler.Enabled,
		Memory:           r.cfg.Memory.Enabled,
		TCPSpans:         r.cfg.TCP.Spans && r.traces != nil,
		TCPPerPeer:       r.cfg.TCP.PerPeer.Enabled,
		TCPPeerMaxSeries: uint32(r.cfg.TCP.PerPeer.MaxSeries), // Validate bounds all four
		TCPEdges:         r.cfg.TCP.Edges.Enabled,
		TCPMaxEdges:      uint32(r.cfg.TCP.Edges.MaxEdges),
		MaxCgroups:       uint32(r.cfg.MaxCgroups),
		RingBufferSize:   uint32(r.cfg.RingBufferSize),
		Logs:             r.logs != nil,
		SlotsPerCPU:      testSlotsPerCPU,

		RunQueueFromSchedInfo: r.cfg.Scheduler.RunQueueLatency == RunQueueLatencySchedInfo,
	}
	if testHookOptions != nil {
		testHookOptions(&opts)
	}
	p, err := probes.Load(opts)
	if err != nil {
		return fmt.Errorf("ebpf receiver: %w", err)
	}
	for _, f := range p.Failed {
		r.set.Logger.Warn("eBPF program does not run on this kernel; the receiver runs without it and leaves out the metrics it feeds",
			zap.String("program", string(f.Program.Name)), zap.String("tracepoint", f.Program.Tracepoint),
			zap.String("kernel", p.KernelRelease), zap.Strings("metrics_left_out", metricNames(programFeeds[f.Program.Name])),
			zap.Error(f.Err))
	}
	if opts.Scheduler && opts.RunQueueFromSchedInfo && !p.RunQueueFromSchedInfo {
		r.set.Logger.Warn("scheduler.run_queue_latency: sched_info needs a kernel with CONFIG_SCHED_INFO " +
			"(task_struct.sched_info in its BTF; set by CONFIG_SCHEDSTATS or CONFIG_TASK_DELAY_ACCT) and " +
			"CONFIG_FAIR_GROUP_SCHED (the run queue clock its timestamps are in); this kernel lacks one, " +
			"so wakeups are timestamped instead (run_queue_latency: wakeup)")
	}
	defer func() {
		if err != nil {
			_ = r.Shutdown(context.Background())
		}
	}()
	r.mu.Lock()
	r.probes = p
	r.mu.Unlock()
	if testHookLoaded != nil {
		testHookLoaded(p)
	}

	if r.cfg.ProgramStats {
		// Needs CAP_SYS_ADMIN; without it only the run-time self-metrics are missing.
		if r.stats, err = ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err != nil {
			r.set.Logger.Warn("BPF program statistics unavailable (needs CAP_SYS_ADMIN); "+
				"receiver_ebpf_program_run_* self-metrics stay empty", zap.Error(err))
			r.stats, err = nil, nil
		}
	}
	if err = r.registerTelemetry(); err != nil {
		return fmt.Errorf("ebpf receiver telemetry: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	attrs := &resourceAttrs{hostName: r.hostName, resolver: r.resolver}
	if r.metrics != nil {
		r.reader = newMapReader(r.cfg, p, attrs, r.matcher, r.metrics, r.set.Logger)
		for name := range metricsLeftOut(p.Failed) {
			r.reader.disabled[name] = true
		}
		r.reader.version = r.set.BuildInfo.Version
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.reader.run(ctx, r.cfg.CollectionInterval)
		}()
	}
	if (opts.Logs || opts.TCPSpans) && p.Events != nil { // nil: no loaded program sends events
		r.events, err = newEventReader(p.Events, attrs, r.matcher, r.logs, r.traces, r.set.Logger)
		if err != nil {
			return fmt.Errorf("ebpf receiver: opening the ring buffer: %w", err)
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.events.run(ctx)
		}()
	}
	r.set.Logger.Info("eBPF programs attached", zap.Int("programs", len(p.Programs)), zap.String("cgroup2", mount),
		zap.String("kernel", p.KernelRelease), zap.Bool("compat_object", p.Compat), zap.Any("variants", p.Variants))
	return nil
}

func (r *ebpfReceiver) registerTelemetry() error {
	tb, err := metadata.NewTelemetryBuilder(r.set.TelemetrySettings)
	if err != nil {
		return err
	}
	r.telemetry = tb
	sumPerCPU := func(m *ebpf.Map, key uint32) int64 {
		var per []uint64
		if m == nil || m.Lookup(key, &per) != nil {
			return 0
		}
		var n uint64
		for _, v := range per {
			n += v
		}
		return int64(n)
	}
	return errors.Join(
		tb.RegisterReceiverEbpfRingBufferDroppedEventsCallback(func(_ context.Context, o metric.Int64Observer) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.probes != nil {
				o.Observe(sumPerCPU(r.probes.RingDrops, 0))
			}
			return nil
		}),
		tb.RegisterReceiverEbpfCgroupOverflowCallback(func(_ context.Context, o metric.Int64Observer) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.probes == nil {
				return nil
			}
			for kind, name := range overflowTableNames {
				o.Observe(sumPerCPU(r.probes.Overflow, uint32(kind)), metric.WithAttributes(attribute.String("table", name)))
			}
			return nil
		}),
		tb.RegisterReceiverEbpfProgramRunCountCallback(func(_ context.Context, o metric.Int64Observer) error {
			return r.observePrograms(o, func(st *ebpf.ProgramStats) int64 { return int64(st.RunCount) })
		}),
		tb.RegisterReceiverEbpfProgramRunTimeCallback(func(_ context.Context, o metric.Int64Observer) error {
			return r.observePrograms(o, func(st *ebpf.ProgramStats) int64 { return int64(st.Runtime) })
		}),
		tb.RegisterReceiverEbpfProgramAttachedCallback(func(_ context.Context, o metric.Int64Observer) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.probes == nil {
				return nil
			}
			for _, f := range r.probes.Failed {
				o.Observe(0, metric.WithAttributes(attribute.String("program", string(f.Program.Name)),
					attribute.String("tracepoint", f.Program.Tracepoint)))
			}
			for _, prog := range probes.Programs {
				if _, ok := r.probes.Variants[prog.Name]; ok {
					o.Observe(1, metric.WithAttributes(attribute.String("program", string(prog.Name)),
						attribute.String("tracepoint", prog.Tracepoint)))
				}
			}
			return nil
		}),
		tb.RegisterReceiverEbpfTCPEdgesExpiredCallback(func(_ context.Context, o metric.Int64Observer) error {
			if mr := r.reader; mr != nil && r.cfg.TCP.Edges.Enabled {
				o.Observe(mr.edgesExpired.Load())
			}
			return nil
		}),
		tb.RegisterReceiverEbpfCgroupsCallback(func(_ context.Context, o metric.Int64Observer) error {
			if mr := r.reader; mr != nil {
				o.Observe(mr.cgroupCount.Load())
			}
			return nil
		}),
	)
}

var overflowTableNames = [probes.OverflowKinds]string{
	probes.OverflowTCP: "tcp", probes.OverflowTCPPeer: "tcp_peer",
	probes.OverflowSched: "scheduler", probes.OverflowMemory: "memory",
	probes.OverflowTasks: "tasks", probes.OverflowSockets: "sockets",
	probes.OverflowExiting: "exiting_processes", probes.OverflowReclaiming: "reclaiming_tasks",
	probes.OverflowNested: "nested_inserts", probes.OverflowSwitchUntracked: "scheduler_untracked",
	probes.OverflowTCPEdges: "tcp_edges",
}

func (r *ebpfReceiver) observePrograms(o metric.Int64Observer, value func(*ebpf.ProgramStats) int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.probes == nil || r.stats == nil {
		return nil
	}
	for name, prog := range r.probes.Programs {
		st, err := prog.Stats()
		if err != nil {
			continue
		}
		o.Observe(value(st), metric.WithAttributes(attribute.String("program", name)))
	}
	return nil
}

// Shutdown stops the goroutines, detaches all programs and closes every map.
func (r *ebpfReceiver) Shutdown(context.Context) error {
	if r.cancel != nil {
		r.cancel()
	}
	if r.events != nil {
		r.events.close() // unblocks a pending ring buffer read
	}
	r.wg.Wait()
	if r.telemetry != nil {
		r.telemetry.Shutdown()
		r.telemetry = nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	if r.probes != nil {
		errs = append(errs, r.probes.Close())
		r.probes = nil
	}
	if r.stats != nil {
		errs = append(errs, r.stats.Close())
		r.stats = nil
	}
	return errors.Join(errs...)
}
