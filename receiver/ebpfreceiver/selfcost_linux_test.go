//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/otelcol-custom/otelcol-custom/internal/ebpftest"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadatatest"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
)

// blockingLogs is a logs consumer that blocks until released, like a stuck pipeline.
type blockingLogs struct {
	release chan struct{}
	entered chan struct{} // closed when the first call blocks
	once    sync.Once
	mu      sync.Mutex
	records int
}

func (b *blockingLogs) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
func (b *blockingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	b.once.Do(func() { close(b.entered) })
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	b.mu.Lock()
	b.records += ld.LogRecordCount()
	b.mu.Unlock()
	return nil
}

// telemetrySum reads a self-metric's data points summed over attribute sets.
func telemetrySum(t *testing.T, tt *componenttest.Telemetry, name string, match func(metricdata.DataPoint[int64]) bool) int64 {
	t.Helper()
	m, err := tt.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			if match == nil || match(dp) {
				n += dp.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			n += dp.Value
		}
	}
	return n
}

func attrIs(key, value string) func(metricdata.DataPoint[int64]) bool {
	return func(dp metricdata.DataPoint[int64]) bool {
		v, ok := dp.Attributes.Value(attribute.Key(key))
		return ok && v.AsString() == value
	}
}

// schedulerOnlySetup is the start of the self-metric tests: root, a test
// telemetry, and a scheduler-only configuration collecting every 200ms.
func schedulerOnlySetup(t *testing.T) (*componenttest.Telemetry, *Config) {
	t.Helper()
	requireRoot(t)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.CollectionInterval = 200 * time.Millisecond
	cfg.TCP.Enabled, cfg.Memory.Enabled = false, false
	return tt, cfg
}

// Tiny ring buffer and a stuck logs pipeline: the kernel side must drop and
// count, the collector stays alive, user-space memory stays bounded and the
// aggregated counters lose nothing.
func TestRingBufferOverflow(t *testing.T) {
	tt, cfg := schedulerOnlySetup(t)
	f := NewFactory()
	cfg.RingBufferSize = os.Getpagesize()
	set := metadatatest.NewSettings(tt)
	metrics := new(consumertest.MetricsSink)
	logs := &blockingLogs{release: make(chan struct{}), entered: make(chan struct{})}
	mr, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	lr, err := f.CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	require.NoError(t, mr.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, lr.Start(context.Background(), componenttest.NewNopHost()))

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	cg := newTestCgroup(t)
	// First get the event reader stuck in the pipeline, then flood.
	warm := startWorkload(t, cg, "spawn", "1")
	warm.go_(t)
	require.Equal(t, 0, warm.wait(t))
	select {
	case <-logs.entered:
	case <-time.After(scaled(10 * time.Second)):
		t.Fatal("the logs pipeline was never called")
	}
	const procs = 400
	w := startWorkload(t, cg, "spawn", strconv.Itoa(procs))
	w.go_(t)
	require.Equal(t, 0, w.wait(t))

	eventually(t, "dropped events reported", func() (bool, string) {
		d := telemetrySum(t, tt, "otelcol_receiver_ebpf_ring_buffer_dropped_events", nil)
		return d > 0, fmt.Sprintf("dropped=%d", d)
	})
	// Metrics keep flowing while the logs pipeline is stuck, and count every process.
	eventually(t, "exact process counts despite the drops", func() (bool, string) {
		v := metricsLatest(metrics, cg.Path)
		execs, exits := v.sum("ebpf.sched.execs"), v.sum("ebpf.sched.processes.exited")
		return execs == procs+3 && exits >= procs+3, fmt.Sprintf("execs=%d exits=%d", execs, exits)
	})
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	require.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(64<<20), "user-space memory must stay bounded")

	dropped := telemetrySum(t, tt, "otelcol_receiver_ebpf_ring_buffer_dropped_events", nil)
	close(logs.release)
	require.NoError(t, lr.Shutdown(context.Background()))
	require.NoError(t, mr.Shutdown(context.Background()))
	t.Logf("delivered %d log records, kernel dropped %d events", logs.records, dropped)
	require.Less(t, logs.records, 2*(procs+3), "more records than events")
}

func metricsLatest(sink *consumertest.MetricsSink, path string) *cgroupValues {
	return (&sinks{metrics: sink}).latest(path)
}

// Beyond max_cgroups data goes to the overflow series and the overflow counter rises.
func TestCgroupOverflow(t *testing.T) {
	tt, cfg := schedulerOnlySetup(t)
	f := NewFactory()
	cfg.MaxCgroups = 2 // the host's busy cgroups fill this at once
	sink := new(consumertest.MetricsSink)
	mr, err := f.CreateMetrics(context.Background(), metadatatest.NewSettings(tt), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, mr.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, mr.Shutdown(context.Background())) })

	for range 3 {
		cg := newTestCgroup(t)
		w := startWorkload(t, cg, "sleep", "20")
		w.go_(t)
		require.Equal(t, 0, w.wait(t))
	}
	eventually(t, "overflow series and counter", func() (bool, string) {
		n := telemetrySum(t, tt, "otelcol_receiver_ebpf_cgroup_overflow", attrIs("table", "scheduler"))
		var overflowSeries bool
		for _, md := range sink.AllMetrics() {
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				if v, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get(attrCgroupOverflow); ok && v.Bool() {
					overflowSeries = true
				}
			}
		}
		return n > 0 && overflowSeries, fmt.Sprintf("overflow counter=%d series=%v", n, overflowSeries)
	})
}

// The kernel's BPF statistics show up as per-program self-metrics.
func TestProgramStatsSelfMetrics(t *testing.T) {
	requireRoot(t)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.ProgramStats = true
	mr, err := f.CreateMetrics(context.Background(), metadatatest.NewSettings(tt), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, mr.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, mr.Shutdown(context.Background())) })
	eventually(t, "run count and run time of handle_sched_switch", func() (bool, string) {
		runs := telemetrySum(t, tt, "otelcol_receiver_ebpf_program_run_count", attrIs("program", "handle_sched_switch"))
		ns := telemetrySum(t, tt, "otelcol_receiver_ebpf_program_run_time", attrIs("program", "handle_sched_switch"))
		return runs > 0 && ns > 0, fmt.Sprintf("runs=%d ns=%d", runs, ns)
	})
}

// Start/stop three times: every program and map the receiver created is
// gone from the kernel afterwards, and the file descriptors return to the
// baseline. Only the receiver's own objects are counted (by id): other BPF
// users on the host load and unload programs meanwhile.
func TestLifecycleReleasesKernelResources(t *testing.T) {
	requireRoot(t)
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.CollectionInterval = 100 * time.Millisecond
	cfg.TCP.Spans = true
	cfg.TCP.PerPeer.Enabled = true

	var progs []ebpf.ProgramID
	var maps []ebpf.MapID
	testHookLoaded = func(p *probes.Set) {
		require.Empty(t, p.Failed, "every program loads on this kernel")
		for name, prog := range p.Programs {
			info, err := prog.Info()
			require.NoError(t, err, name)
			id, _ := info.ID()
			progs = append(progs, id)
		}
		for name, m := range p.Maps() {
			info, err := m.Info()
			require.NoError(t, err, name)
			id, _ := info.ID()
			maps = append(maps, id)
		}
	}
	t.Cleanup(func() { testHookLoaded = nil })

	fdsBefore := openFDs(t)
	for i := range 3 {
		progs, maps = nil, nil
		s, shutdown := startPipelines(t, cfg, metadatatest.NewSettings(componenttest.NewTelemetry()))
		require.NotEmpty(t, progs, "round %d", i)
		for _, id := range progs {
			require.True(t, programExists(t, id), "round %d: program %d loaded", i, id)
		}
		eventually(t, "a metrics batch", func() (bool, string) { return s.metrics.DataPointCount() > 0, "" })
		shutdown()
		// Programs and maps are freed after an RCU grace period.
		eventually(t, "the receiver's programs and maps freed", func() (bool, string) {
			var left []string
			for _, id := range progs {
				if programExists(t, id) {
					left = append(left, fmt.Sprintf("program %d", id))
				}
			}
			for _, id := range maps {
				if mapExists(t, id) {
					left = append(left, fmt.Sprintf("map %d", id))
				}
			}
			return len(left) == 0, fmt.Sprintf("round %d: still loaded: %v", i, left)
		})
	}
	eventually(t, "baseline fds", func() (bool, string) {
		fds := openFDs(t)
		return fds == fdsBefore, fmt.Sprintf("fds %d (baseline %d)", fds, fdsBefore)
	})
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

// programExists reports whether the kernel still has the program with id.
func programExists(t *testing.T, id ebpf.ProgramID) bool {
	t.Helper()
	p, err := ebpf.NewProgramFromID(id)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return false
	}
	require.NoError(t, err)
	_ = p.Close()
	return true
}

// mapExists reports whether the kernel still has the map with id.
func mapExists(t *testing.T, id ebpf.MapID) bool {
	t.Helper()
	m, err := ebpf.NewMapFromID(id)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return false
	}
	require.NoError(t, err)
	_ = m.Close()
	return true
}

// Without CAP_BPF/CAP_PERFMON, Start fails with an error naming the
// capabilities and the securityContext to add, and the process lives on.
func TestStartErrorWithoutCapabilities(t *testing.T) {
	requireRoot(t)
	cmd := ebpftest.RoleCommand(workloadEnv, "start-without-caps", nil)
	cmd.Stdin = strings.NewReader("go\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the process must survive the failed Start: %s", out)
	msg := string(out)
	for _, want := range []string{"CAP_BPF", "CAP_PERFMON", "securityContext", "BPF", "PERFMON"} {
		require.Contains(t, msg, want)
	}
	require.Contains(t, msg, "report mode: Start returned <nil>, status StatusPermanentError")
}

// startWithoutCaps runs in a child: drop every capability, then Start.
func startWithoutCaps() int {
	// Capabilities are per thread: this goroutine stays on the thread that
	// drops them, and Start loads the programs synchronously on it.
	runtime.LockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		fmt.Println("capset:", err)
		return 1
	}
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	mr, err := f.CreateMetrics(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
	if err != nil {
		fmt.Println("create:", err)
		return 1
	}
	err = mr.Start(context.Background(), componenttest.NewNopHost())
	fmt.Println(err)
	_ = mr.Shutdown(context.Background())
	if err == nil {
		return 1
	}
	// on_start_error: report keeps the collector running and reports the status.
	cfg = f.CreateDefaultConfig().(*Config)
	cfg.OnStartError = OnStartErrorReport
	mr, _ = f.CreateMetrics(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
	host := &statusHost{}
	err = mr.Start(context.Background(), host)
	fmt.Printf("report mode: Start returned %v, status %v\n", err, host.last)
	_ = mr.Shutdown(context.Background())
	return 0
}

// statusHost records component status events.
type statusHost struct{ last componentstatus.Status }

func (*statusHost) GetExtensions() map[component.ID]component.Component { return nil }
func (h *statusHost) Report(e *componentstatus.Event)                   { h.last = e.Status() }

// gaugePoint is the value of a gauge self-metric's data point with attribute key=value.
func gaugePoint(tt *componenttest.Telemetry, name, key, value string) (int64, bool) {
	m, err := tt.GetMetric(name)
	if err != nil {
		return 0, false
	}
	g, ok := m.Data.(metricdata.Gauge[int64])
	if !ok {
		return 0, false
	}
	for _, dp := range g.DataPoints {
		if attrIs(key, value)(dp) {
			return dp.Value, true
		}
	}
	return 0, false
}

// A program that cannot run on the kernel takes nothing else down: the
// receiver starts, warns once naming it, its tracepoint, the kernel and the
// reason, reports it as not attached in a self-metric and leaves out only
// the metrics it feeds.
func TestProgramFailureLeavesOthersRunning(t *testing.T) {
	tt, cfg := schedulerOnlySetup(t)
	testHookOptions = func(o *probes.Options) {
		o.Variants = map[probes.ProgramName]string{probes.ProgSchedProcessFork: "no_such_variant"}
	}
	t.Cleanup(func() { testHookOptions = nil })
	core, observed := observer.New(zap.WarnLevel)
	set := metadatatest.NewSettings(tt)
	set.Logger = zap.New(core)
	sink := new(consumertest.MetricsSink)
	mr, err := NewFactory().CreateMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, mr.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, mr.Shutdown(context.Background())) })

	warnings := observed.FilterMessageSnippet("does not run on this kernel").All()
	require.Len(t, warnings, 1, "one warning per failed program")
	fields := warnings[0].ContextMap()
	require.Equal(t, "handle_sched_process_fork", fields["program"])
	require.Equal(t, "sched_process_fork", fields["tracepoint"])
	require.Equal(t, probesKernelRelease(t), fields["kernel"])
	require.Contains(t, fields["error"], "no variant no_such_variant")
	require.Equal(t, []any{metricProcessStarts.name}, fields["metrics_left_out"])

	eventually(t, "program_attached self-metric", func() (bool, string) {
		fork, forkOK := gaugePoint(tt, "otelcol_receiver_ebpf_program_attached", "program", "handle_sched_process_fork")
		sw, swOK := gaugePoint(tt, "otelcol_receiver_ebpf_program_attached", "program", "handle_sched_switch")
		return forkOK && swOK && fork == 0 && sw == 1, fmt.Sprintf("fork=%d(%v) switch=%d(%v)", fork, forkOK, sw, swOK)
	})

	cg := newTestCgroup(t)
	w := startWorkload(t, cg, "spawn", "3")
	w.go_(t)
	require.Equal(t, 0, w.wait(t))
	eventually(t, "scheduler metrics without the failed program's", func() (bool, string) {
		v := metricsLatest(sink, cg.Path)
		return v.sum("ebpf.sched.execs") >= 4 && v.sum("ebpf.sched.processes.exited") >= 4,
			fmt.Sprintf("execs=%d exited=%d", v.sum("ebpf.sched.execs"), v.sum("ebpf.sched.processes.exited"))
	})
	_, found := metricsLatest(sink, cg.Path).metrics[metricProcessStarts.name]
	require.False(t, found, "%s is fed only by the failed program: left out, not reported as 0", metricProcessStarts.name)
}

// A signal none of whose programs runs fails Start (on_start_error: fail),
// naming the signal and each program's reason.
func TestSignalWithoutProgramsFailsStart(t *testing.T) {
	requireRoot(t)
	testHookOptions = func(o *probes.Options) {
		o.Variants = map[probes.ProgramName]string{}
		for _, p := range probes.Programs {
			if p.Signal == probes.SignalMemory {
				o.Variants[p.Name] = "no_such_variant"
			}
		}
	}
	t.Cleanup(func() { testHookOptions = nil })
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.TCP.Enabled, cfg.Scheduler.Enabled = false, false
	mr, err := NewFactory().CreateMetrics(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = mr.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	require.NoError(t, mr.Shutdown(context.Background()))
	require.Contains(t, err.Error(), "signal memory: none of its programs runs on kernel")
	require.Contains(t, err.Error(), "handle_mark_victim (tracepoint mark_victim)")
}

// probesKernelRelease is uname -r.
func probesKernelRelease(t *testing.T) string {
	t.Helper()
	var u unix.Utsname
	require.NoError(t, unix.Uname(&u))
	return unix.ByteSliceToString(u.Release[:])
}
