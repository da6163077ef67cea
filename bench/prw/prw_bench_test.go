// Package prw benchmarks otelcol-custom's prometheus_remote_write exporter against contrib's at
// v0.161.0 in the same harness: OTLP gauges for 10k and 1M active series go through the exporter
// (default configuration, its own queue) into a receiver in another process (cmd: ./sink, or
// VictoriaMetrics) that decodes and counts. Reported per run: samples/s, CPU seconds of this
// process per million samples, allocations per sample, GC stop-the-world pause p99, peak heap.
package prw

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	ours "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"
	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
	"github.com/otelcol-custom/otelcol-custom/internal/prwload"
)

const batchSize = 10_000 // data points per OTLP request, like a batch processor's output

// target is where the exporters write: the sink process (default) or VictoriaMetrics
// (PRW_BENCH_TARGET=vm).
type target struct {
	url   string
	count func() int64
	// cpu returns the target process' CPU seconds (the sink reports its own; nil for VictoriaMetrics).
	cpu func() float64
	// requests returns how many requests the target received (the sink only; nil for VictoriaMetrics).
	requests func() int64
}

// TestMain stops the sink process after the benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	if sinkProc != nil {
		_ = sinkProc.Kill()
	}
	os.Exit(code)
}

var (
	sinkProc *os.Process
	sinkOnce sync.Once
	sinkTgt  target
	sinkErr  error
)

func startSink(b testing.TB) target {
	sinkOnce.Do(func() {
		bin := filepath.Join(os.TempDir(), "prw-bench-sink")
		if out, err := exec.Command("go", "build", "-o", bin, "./sink").CombinedOutput(); err != nil {
			sinkErr = fmt.Errorf("building sink: %v: %s", err, out)
			return
		}
		addr := fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(b))
		args := []string{"-listen", addr}
		if os.Getenv("PRW_SINK_FULL_DECODE") != "" {
			args = append(args, "-full-decode")
		}
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		// The sink lives as long as the benchmark binary: TestMain kills it, and the kernel does
		// if the binary dies first.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if sinkErr = cmd.Start(); sinkErr != nil {
			return
		}
		sinkProc = cmd.Process
		go func() { _ = cmd.Wait() }()
		base := "http://" + addr
		// /count: samples histograms requests errors cpu_seconds
		read := func() []string {
			resp, err := http.Get(base + "/count")
			if err != nil {
				return nil
			}
			defer resp.Body.Close()
			line, _ := bufio.NewReader(resp.Body).ReadString('\n')
			if f := strings.Fields(line); len(f) >= 5 {
				return f
			}
			return nil
		}
		// field i of /count, -1 when the sink does not answer.
		field := func(i int) float64 {
			f := read()
			if f == nil {
				return -1
			}
			v, _ := strconv.ParseFloat(f[i], 64)
			return v
		}
		count := func() int64 { return int64(field(0)) }
		requests := func() int64 { return int64(field(2)) }
		cpu := func() float64 { return max(field(4), 0) }
		for range 100 {
			if count() >= 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		sinkTgt = target{url: base + "/api/v1/write", count: count, cpu: cpu, requests: requests}
	})
	if sinkErr != nil {
		b.Fatal(sinkErr)
	}
	return sinkTgt
}

func startTarget(b testing.TB) target {
	if os.Getenv("PRW_BENCH_TARGET") != "vm" {
		return startSink(b)
	}
	vm := promtest.Start(b, promtest.VictoriaMetrics)
	var mu sync.Mutex
	cpu := func() float64 {
		_, c, _ := procStats(vm.Pid())
		return c
	}
	return target{url: vm.WriteURL(), cpu: cpu, count: func() int64 {
		mu.Lock()
		defer mu.Unlock()
		// vm_rows_inserted_total counts every ingested sample.
		resp, err := http.Get("http://" + vm.Addr + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var n int64
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, `vm_rows_inserted_total{type="promremotewrite"}`) {
				f := strings.Fields(l)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				n = int64(v)
			}
		}
		return n
	}}
}

// makeBatches builds the OTLP requests of one round over `series` gauge series.
func makeBatches(series int) []pmetric.Metrics {
	var out []pmetric.Metrics
	for start := 0; start < series; start += batchSize {
		out = append(out, prwload.Gauges(start, min(batchSize, series-start)))
	}
	return out
}

func setTimestamps(md pmetric.Metrics, ts pcommon.Timestamp) {
	dps := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
	for i := range dps.Len() {
		dps.At(i).SetTimestamp(ts)
	}
}

// newExporter creates and starts an exporter with the shared settings plus extra keys.
func newExporter(b testing.TB, impl, url string, extra ...map[string]any) exporter.Metrics {
	var f exporter.Factory
	switch impl {
	case "ours":
		f = ours.NewFactory()
	default:
		f = contrib.NewFactory()
	}
	cfg := f.CreateDefaultConfig()
	// Same settings for both through the configuration keys they share.
	conf := map[string]any{
		"endpoint":                         url,
		"target_info":                      map[string]any{"enabled": false},
		"remote_write_queue":               map[string]any{"enabled": false},
		"resource_to_telemetry_conversion": map[string]any{"enabled": false},
	}
	for _, e := range extra {
		maps.Copy(conf, e)
	}
	if err := unmarshal(cfg, conf); err != nil {
		b.Fatal(err)
	}
	set := exportertest.NewNopSettings(f.Type())
	set.ID = component.NewID(f.Type())
	exp, err := f.CreateMetrics(context.Background(), set, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	return exp
}

// threadCPUSeconds is the CPU time of the calling OS thread (callers lock their goroutine to it).
func threadCPUSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// gcPauses reads the cumulative stop-the-world GC pause histogram.
func gcPauses() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

// p99 of the pauses recorded between two histogram snapshots (upper bucket bound).
func p99(before, after *metrics.Float64Histogram) float64 {
	var total uint64
	counts := make([]uint64, len(after.Counts))
	for i := range after.Counts {
		counts[i] = after.Counts[i] - before.Counts[i]
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(float64(total) * 0.99))
	var acc uint64
	for i, c := range counts {
		acc += c
		if acc >= want {
			return after.Buckets[i+1]
		}
	}
	return after.Buckets[len(after.Buckets)-1]
}

// BenchmarkExport sends b.N rounds over every series. Producers call the exporter concurrently
// (one per CPU), as a pipeline's batch processors would.
func BenchmarkExport(b *testing.B) {
	for _, series := range []int{10_000, 1_000_000} {
		for _, impl := range []string{"contrib", "ours"} {
			b.Run(fmt.Sprintf("series=%d/impl=%s", series, impl), func(b *testing.B) {
				tgt := startTarget(b)
				// contrib's timeout bounds a whole export (5 s by default): on a busy machine a
				// 1M-series round exceeds it and contrib drops data. Both get a generous one
				// (ours applies it per HTTP attempt).
				exp := newExporter(b, impl, tgt.url, map[string]any{"timeout": "2m"})
				defer func() { _ = exp.Shutdown(context.Background()) }()
				batches := makeBatches(series)
				producers := runtime.GOMAXPROCS(0)
				runtime.GC()
				var ms runtime.MemStats
				startCount := tgt.count()
				var targetCPU0 float64
				if tgt.cpu != nil {
					targetCPU0 = tgt.cpu()
				}
				var genMu sync.Mutex
				var genCPU float64
				gcBefore := gcPauses()
				cpu0 := cpuSeconds()
				var peakHeap uint64
				stopPeak := make(chan struct{})
				go func() {
					t := time.NewTicker(50 * time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stopPeak:
							return
						case <-t.C:
							s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
							metrics.Read(s)
							peakHeap = max(peakHeap, s[0].Value.Uint64())
						}
					}
				}()
				runtime.ReadMemStats(&ms)
				mallocs0, gcs0 := ms.Mallocs, ms.NumGC
				b.ResetTimer()
				start := time.Now()
				base := time.Now().Add(-time.Hour)
				for round := range b.N {
					ts := pcommon.NewTimestampFromTime(base.Add(time.Duration(round) * time.Second))
					var wg sync.WaitGroup
					for p := range producers {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := p; i < len(batches); i += producers {
								// The load generator's own work, measured on its thread, is
								// subtracted from the process CPU to get the exporter's.
								runtime.LockOSThread()
								c0 := threadCPUSeconds()
								setTimestamps(batches[i], ts)
								c := threadCPUSeconds() - c0
								runtime.UnlockOSThread()
								genMu.Lock()
								genCPU += c
								genMu.Unlock()
								if err := exp.ConsumeMetrics(context.Background(), batches[i]); err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
				}
				want := startCount + int64(b.N*series)
				deadline := time.Now().Add(2 * time.Minute)
				for tgt.count() < want && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				elapsed := time.Since(start)
				b.StopTimer()
				close(stopPeak)
				cpu := cpuSeconds() - cpu0
				runtime.ReadMemStats(&ms)
				got := tgt.count() - startCount
				if got < int64(b.N*series) {
					b.Fatalf("target received %d of %d samples", got, b.N*series)
				}
				samples := float64(b.N * series)
				b.ReportMetric(samples/elapsed.Seconds(), "samples/s")
				b.ReportMetric(cpu/samples*1e6, "cpu-s/Msamples")
				b.ReportMetric((cpu-genCPU)/samples*1e6, "exporter-cpu-s/Msamples")
				b.ReportMetric(genCPU/samples*1e6, "gen-cpu-s/Msamples")
				if tgt.cpu != nil {
					b.ReportMetric((tgt.cpu()-targetCPU0)/samples*1e6, "target-cpu-s/Msamples")
				}
				b.ReportMetric(float64(ms.Mallocs-mallocs0)/samples, "allocs/sample")
				// 0 when no collection ran (gc-cycles 0).
				b.ReportMetric(p99(gcBefore, gcPauses())*1e3, "gc-p99-ms")
				b.ReportMetric(float64(ms.NumGC-gcs0), "gc-cycles")
				b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
			})
		}
	}
}
