//go:build soak

package soak

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/otelcol-custom/otelcol-custom/internal/ebpftest"
	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// TestSoak runs the collector with every otelcol-custom component on — the eBPF receiver (root),
// k8s_tagging against a real kube-apiserver (internal/k8stest, with pod churn), and
// prometheus_remote_write into a real VictoriaMetrics (internal/promtest) — next to the OTLP
// receiver and exporter, under steady load for SOAK_DURATION (default 30m). Every SOAK_SAMPLE
// (default 30s) it samples RSS (/proc and otelcol_process_memory_rss), heap and goroutines
// (pprof). After SOAK_WARMUP (default 5m) RSS and goroutines must stay flat: the median of the
// last fifth of the samples may exceed the median of the first fifth by less than 5%.
// Everything sent must also arrive, tagged.
func TestSoak(t *testing.T) {
	duration := envDuration(t, "SOAK_DURATION", 30*time.Minute)
	warmup := envDuration(t, "SOAK_WARMUP", 5*time.Minute)
	every := envDuration(t, "SOAK_SAMPLE", 30*time.Second)
	rate := envInt(t, "SOAK_RATE", 2000)
	if warmup >= duration {
		t.Fatalf("SOAK_WARMUP %s must be shorter than SOAK_DURATION %s", warmup, duration)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the soak runs the eBPF receiver, which needs root (CI and `make soak` run as root)")
	}

	// Kubernetes: pods the load's data comes from, and churn pods to keep the watch busy.
	cluster := k8stest.Start(t)
	cluster.CreateNamespace(t, "shop", nil)
	cluster.CreateNode(t, "node-a", nil)
	rs := cluster.CreateReplicaSet(t, "shop", "checkout")
	const loadPods = 20
	podIPs := make([]string, loadPods)
	for i := range podIPs {
		pod := cluster.CreatePod(t, k8stest.PodSpec{Namespace: "shop", Name: fmt.Sprintf("checkout-%d", i), NodeName: "node-a", OwnerReplicaSet: rs})
		podIPs[i] = pod.Status.PodIP
	}
	withPod := func(n int, attrs pcommon.Map) { attrs.PutStr("k8s.pod.ip", podIPs[n%loadPods]) }

	vm := promtest.Start(t, promtest.VictoriaMetrics)
	sink := newSink(t)
	sink.start(t)
	recvPort, telPort, pprofPort := proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)
	col := startCollector(t, []string{"KUBECONFIG=" + cluster.KubeconfigPath()}, fmt.Sprintf(`
receivers:
  ebpf:
    collection_interval: 10s
    on_start_error: fail
  otlp:
    protocols: {grpc: {endpoint: "%s"}}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 1024, spike_limit_mib: 256}
  k8s_tagging:
    auth_type: kubeConfig
    wait_for_metadata: true
    extract:
      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.deployment.name, k8s.node.name, container.id]
  batch: {}
exporters:
  otlp_grpc:
    endpoint: %s
    tls: {insecure: true}
  prometheus_remote_write:
    endpoint: %s
extensions:
  pprof: {endpoint: "%s"}
service:
  extensions: [pprof]
  telemetry:
    metrics:
      level: normal
      readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter, k8s_tagging, batch], exporters: [otlp_grpc]}
    metrics: {receivers: [otlp, ebpf], processors: [memory_limiter, k8s_tagging, batch], exporters: [prometheus_remote_write]}
    logs: {receivers: [otlp, ebpf], processors: [memory_limiter, k8s_tagging, batch], exporters: [otlp_grpc]}
`, addr(recvPort), sink.address, vm.WriteURL(), addr(pprofPort), telPort))

	spans := &spanLoad{rate: rate, perRequest: 100, resource: withPod}
	side := &sideLoad{logsPerSecond: rate / 10, series: 200, resource: withPod}
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); _ = spans.run(ctx, addr(recvPort)) }()
	go func() { defer wg.Done(); _ = side.run(ctx, addr(recvPort)) }()
	go func() { defer wg.Done(); kernelWork(ctx) }()
	go func() { defer wg.Done(); podChurn(ctx, t, cluster, every) }()
	defer func() { stopLoad(); wg.Wait() }()

	series := resultsFile(t, "soak-series.csv")
	if series != nil {
		fmt.Fprintln(series, "elapsed_s,rss_bytes,self_rss_bytes,heap_alloc_bytes,goroutines,spans_sent,spans_received,spans_refused,log_records_received,metric_points_sent,limiter_refused_spans")
	}
	var samples []soakSample
	start := time.Now()
	for elapsed := time.Duration(0); elapsed <= duration; elapsed = time.Since(start) {
		col.Running(t)
		s := soakSample{elapsed: elapsed}
		var err error
		if s.rss, err = col.RSSBytes(); err != nil {
			t.Fatalf("read RSS: %v", err)
		}
		if s.goroutines, err = proctest.Goroutines(context.Background(), pprofPort); err != nil {
			t.Fatalf("read goroutines: %v", err)
		}
		m, err := selfMetrics(telPort)
		if err != nil {
			t.Fatalf("self-metrics: %v", err)
		}
		s.selfRSS, s.heap = m["otelcol_process_memory_rss"], m["otelcol_process_runtime_heap_alloc_bytes"]
		c := sink.counts()
		samples = append(samples, s)
		phase := "warm-up"
		if elapsed >= warmup {
			phase = "measure"
		}
		t.Logf("soak %s/%s [%s]: RSS %.1f MiB (self-metric %.1f), heap %.1f MiB, goroutines %d | spans sent %d received %d refused %d | logs received %d | points sent %d",
			elapsed.Round(time.Second), duration, phase, mib(float64(s.rss)), mib(s.selfRSS), mib(s.heap), s.goroutines,
			spans.sent.Load(), c.unique, spans.rejected.Load(), c.logs, side.pointsSent.Load())
		if series != nil {
			fmt.Fprintf(series, "%.0f,%d,%.0f,%.0f,%d,%d,%d,%d,%d,%d,%.0f\n", elapsed.Seconds(), s.rss, s.selfRSS, s.heap, s.goroutines,
				spans.sent.Load(), c.unique, spans.rejected.Load(), c.logs, side.pointsSent.Load(), m["otelcol_processor_memory_limiter_refused_spans"])
		}
		next := start.Add(time.Duration(len(samples)) * every)
		if next.Sub(start) > duration {
			break
		}
		time.Sleep(time.Until(next))
	}
	stopLoad()
	wg.Wait()

	// Everything sent arrived, tagged with its pod.
	sent := spans.sent.Load() - spans.rejected.Load()
	deadline := time.Now().Add(time.Minute)
	for sink.counts().unique < sent && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	c := sink.counts()
	if spans.rejected.Load() != 0 {
		t.Errorf("the collector refused %d of %d spans (last error: %s)", spans.rejected.Load(), spans.sent.Load(), spans.lastError())
	}
	if c.unique != sent {
		t.Errorf("%d spans accepted, %d arrived; first missing %v", sent, c.unique, sink.missing(uint64(spans.sent.Load()), 10))
	}
	if c.tagged < c.unique {
		t.Errorf("k8s_tagging: only %d of %d spans arrived with k8s.pod.name", c.tagged, c.unique)
	}
	if c.logs < side.logsSent.Load() {
		t.Errorf("%d log records sent, %d arrived", side.logsSent.Load(), c.logs)
	}
	qctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := vm.WaitQuery(qctx, "count(soak_load_value)", time.Now(), 30*time.Second, func(r []promtest.Sample) bool {
		return len(r) == 1 && r[0].Value == strconv.Itoa(side.series)
	}); err != nil {
		t.Errorf("remote write: %v", err)
	}
	if _, err := vm.WaitQuery(qctx, `count({__name__=~"ebpf_.+"})`, time.Now(), 30*time.Second, func(r []promtest.Sample) bool { return len(r) == 1 }); err != nil {
		t.Errorf("eBPF metrics in VictoriaMetrics: %v", err)
	}

	// Flat after warm-up.
	var measured []soakSample
	for _, s := range samples {
		if s.elapsed >= warmup {
			measured = append(measured, s)
		}
	}
	if len(measured) < 2 {
		t.Fatalf("only %d samples after the warm-up: make SOAK_DURATION longer than SOAK_WARMUP + 2×SOAK_SAMPLE", len(measured))
	}
	rss := growth(measured, func(s soakSample) float64 { return float64(s.rss) })
	gor := growth(measured, func(s soakSample) float64 { return float64(s.goroutines) })
	first, last := samples[0], samples[len(samples)-1]
	summary := fmt.Sprintf("soak %s (warm-up %s, %d samples every %s, %d spans/s, %d log records/s, %d series/s): "+
		"RSS start %.1f MiB, after warm-up %.1f MiB, end %.1f MiB, growth after warm-up %+.2f%% (slope %+.2f MiB/h); "+
		"goroutines start %d, after warm-up %.0f, end %d, growth %+.2f%%; "+
		"spans sent %d, received %d (duplicates %d, tagged %d), refused %d; log records sent %d received %d; metric points sent %d",
		duration, warmup, len(samples), every, rate, side.logsPerSecond, side.series,
		mib(float64(first.rss)), mib(rss.baseline), mib(float64(last.rss)), rss.pct, rss.slopePerHour/(1<<20),
		first.goroutines, gor.baseline, last.goroutines, gor.pct,
		spans.sent.Load(), c.unique, c.duplicates, c.tagged, spans.rejected.Load(), side.logsSent.Load(), c.logs, side.pointsSent.Load())
	t.Log(summary)
	if f := resultsFile(t, "soak-summary.txt"); f != nil {
		fmt.Fprintf(f, "%s\n%s\n", time.Now().UTC().Format(time.RFC3339), summary)
	}
	if rss.pct >= 5 {
		t.Errorf("RSS grew %.2f%% after the warm-up (median %.1f → %.1f MiB); the limit is 5%%", rss.pct, mib(rss.baseline), mib(rss.end))
	}
	if gor.pct >= 5 {
		t.Errorf("goroutines grew %.2f%% after the warm-up (median %.0f → %.0f); the limit is 5%%", gor.pct, gor.baseline, gor.end)
	}
}

type soakSample struct {
	elapsed    time.Duration
	rss        int64
	selfRSS    float64
	heap       float64
	goroutines int
}

type growthResult struct {
	baseline, end, pct, slopePerHour float64
}

// growth compares the median of the last fifth of the samples with the median of the first fifth
// (medians: a GC cycle or a burst in one sample must not decide), and fits a least-squares slope.
func growth(samples []soakSample, value func(soakSample) float64) growthResult {
	k := max(1, len(samples)/5)
	median := func(ss []soakSample) float64 {
		vs := make([]float64, len(ss))
		for i, s := range ss {
			vs[i] = value(s)
		}
		slices.Sort(vs)
		if len(vs)%2 == 1 {
			return vs[len(vs)/2]
		}
		return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	r := growthResult{baseline: median(samples[:k]), end: median(samples[len(samples)-k:])}
	if r.baseline > 0 {
		r.pct = (r.end/r.baseline - 1) * 100
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(samples))
	for _, s := range samples {
		x, y := s.elapsed.Hours(), value(s)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	if d := n*sxx - sx*sx; d != 0 && !math.IsNaN(d) {
		r.slopePerHour = (n*sxy - sx*sy) / d
	}
	return r
}

func mib(b float64) float64 { return b / (1 << 20) }

// kernelWork gives the eBPF receiver something to see: short TCP connections and execs.
func kernelWork(ctx context.Context) {
	srv, err := ebpftest.NewDiscardServer()
	if err != nil {
		return
	}
	defer srv.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if c, err := net.Dial("tcp", srv.Addr()); err == nil {
			_, _ = c.Write([]byte("soak"))
			c.Close()
		}
		if n%10 == 0 {
			_ = exec.CommandContext(ctx, "/bin/true").Run()
		}
	}
}

// podChurn creates a pod and deletes the one created three rounds earlier every interval, so the
// tagging cache sees adds, deletes and expiries all along the soak.
func podChurn(ctx context.Context, t *testing.T, c *k8stest.Cluster, every time.Duration) {
	tick := time.NewTicker(every / 3)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.CreatePod(t, k8stest.PodSpec{Namespace: "shop", Name: fmt.Sprintf("churn-%d", n), NodeName: "node-a"})
		if n >= 3 {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := c.Client().CoreV1().Pods("shop").Delete(dctx, fmt.Sprintf("churn-%d", n-3), metav1.DeleteOptions{}); err != nil && ctx.Err() == nil {
				t.Errorf("pod churn: delete churn-%d: %v", n-3, err)
			}
			cancel()
		}
	}
}
