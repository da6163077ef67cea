package k8sbench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the collectors' OTLP exporter compresses by default

	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// The "binary" scenario compares the collectors as users run them: _build/otelcol-custom with
// k8s_tagging and _build/otelcol-k8sattributes (bench/peers/build.sh: contrib's processor at the
// newest version the module proxy serves) with k8s_attributes, both in the same pipeline
// (OTLP gRPC receiver → processor → OTLP gRPC exporter to a sink in this test) with the same
// processor settings, pointed at the harness API server through a counting proxy.

// collectorBinary is one collector under test.
type collectorBinary struct {
	name          string // result name
	path          string
	processorType string // component type of the tagging processor in that binary
}

func collectorBinaries(t *testing.T) []collectorBinary {
	build, err := filepath.Abs("../../_build")
	require(t, err)
	bins := []collectorBinary{
		{name: "otelcol-k8sattributes", path: envOr("BENCH_PEER_BINARY", filepath.Join(build, "otelcol-k8sattributes")), processorType: "k8s_attributes"},
		{name: "otelcol-custom", path: envOr("BENCH_CUSTOM_BINARY", filepath.Join(build, "otelcol-custom")), processorType: "k8s_tagging"},
	}
	for _, b := range bins {
		if _, err := os.Stat(b.path); err != nil {
			t.Fatalf("collector binary %s missing (%v): build it with `make build` (otelcol-custom) and `make peers` (bench/peers/build.sh, otelcol-k8sattributes)", b.path, err)
		}
	}
	return bins
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// runBinaries measures both collector binaries: first each without the processor (baseline RSS
// of the same pipeline), then with it.
func runBinaries(t *testing.T, c *k8stest.Cluster, pods []podInfo) []result {
	var out []result
	for _, b := range collectorBinaries(t) {
		base := runBinary(t, c, b, pods, false)
		r := runBinary(t, c, b, pods, true)
		r.BaselineRSS, r.BaselineRSSAfterLoad, r.BaselineHeapAfterLoad = base.RSSMiB, base.RSSAfterLoadMiB, base.HeapAfterLoadMiB
		out = append(out, r)
		t.Logf("binary/%s: first tagged %.2fs, RSS %.1f MiB (baseline %.1f; after load %.1f, baseline %.1f), heap %.1f MiB (after load %.1f), API %d req / %d B, %.0f spans/s, %.2f CPU s per million spans, tagged %.4f",
			b.name, r.FirstTaggedSeconds, r.RSSMiB, r.BaselineRSS, r.RSSAfterLoadMiB, r.BaselineRSSAfterLoad, r.GoHeapMiB, r.HeapAfterLoadMiB, r.APIRequests, r.APIBytes, r.SpansPerSecond, r.CPUPerMillion, r.Tagged)
	}
	return out
}

// otlpSink receives the collector's spans, counts them and signals the first probe span that
// carries the probe pod's full metadata.
type otlpSink struct {
	ptraceotlp.UnimplementedGRPCServer
	probe         podInfo
	spans, tagged atomic.Int64
	probes        atomic.Int64
	once          sync.Once
	firstTagged   chan struct{}
	mu            sync.Mutex
	firstKeys     []string
}

func (s *otlpSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		n := int64(0)
		for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
			n += int64(rss.At(i).ScopeSpans().At(j).Spans().Len())
		}
		attrs := rss.At(i).Resource().Attributes()
		s.spans.Add(n)
		if _, ok := attrs.Get("k8s.pod.name"); ok {
			s.tagged.Add(n)
		}
		if v, ok := attrs.Get("service.name"); !ok || v.Str() != "probe" {
			continue
		}
		s.probes.Add(1)
		full := true
		for k, want := range map[string]string{"k8s.pod.name": s.probe.Name, "k8s.namespace.name": s.probe.Namespace,
			"k8s.pod.uid": s.probe.UID, "k8s.deployment.name": s.probe.Deployment} {
			if got, ok := attrs.Get(k); !ok || got.Str() != want {
				full = false
			}
		}
		if full {
			s.once.Do(func() {
				var keys []string
				for k := range attrs.All() {
					keys = append(keys, k)
				}
				s.mu.Lock()
				s.firstKeys = keys
				s.mu.Unlock()
				close(s.firstTagged)
			})
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func startSink(t *testing.T, probe podInfo) (*otlpSink, string) {
	s := &otlpSink{probe: probe, firstTagged: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require(t, err)
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return s, ln.Addr().String()
}

// collectorConfig is the pipeline both binaries run. The exporter has no queue, so a span
// accepted by the receiver has reached the sink.
func collectorConfig(processorType string, withProcessor bool, otlpPort, metricsPort int, sinkAddr string) string {
	processors, section := "[]", ""
	if withProcessor {
		processors = "[" + processorType + "]"
		section = fmt.Sprintf(`processors:
  %s:
    auth_type: kubeConfig
    wait_for_metadata: true
    wait_for_metadata_timeout: 10m
`, processorType)
	}
	return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:%d"}
%sexporters:
  otlp_grpc:
    endpoint: "%s"
    tls: {insecure: true}
    sending_queue: {enabled: false}
    retry_on_failure: {enabled: false}
service:
  telemetry:
    logs: {level: warn}
    metrics:
      readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]
  pipelines:
    traces: {receivers: [otlp], processors: %s, exporters: [otlp_grpc]}
`, otlpPort, section, sinkAddr, metricsPort, processors)
}

// runBinary starts one collector binary and measures it. Without the processor it only measures
// RSS once the pipeline delivers (the baseline).
func runBinary(t *testing.T, c *k8stest.Cluster, b collectorBinary, pods []podInfo, withProcessor bool) result {
	rng := rand.New(rand.NewPCG(3, 4))
	probe := pods[rng.IntN(len(pods))]
	sink, sinkAddr := startSink(t, probe)
	proxy := newCountingProxy(t, c)
	otlpPort, metricsPort := proctest.FreePort(t), proctest.FreePort(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	require(t, os.WriteFile(cfgPath, []byte(collectorConfig(b.processorType, withProcessor, otlpPort, metricsPort, sinkAddr)), 0o600))
	dropPageCache(t)

	var logs bytes.Buffer
	cmd := exec.Command(b.path, "--config", cfgPath)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+proxy.kubeconfig(t))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	began := time.Now()
	require(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	defer stop()
	fail := func(format string, args ...any) {
		t.Helper()
		stop()
		t.Fatalf("%s (processor %v): %s\ncollector output:\n%s", b.name, withProcessor, fmt.Sprintf(format, args...), tail(logs.String(), 4000))
	}

	// The receiver listens once every component started, i.e. after the processor synced
	// (wait_for_metadata). Poll the port rather than letting gRPC back off between attempts.
	otlpAddr := "127.0.0.1:" + strconv.Itoa(otlpPort)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", otlpAddr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			fail("exited before its receiver listened: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			fail("receiver did not listen within 10 minutes")
		}
	}
	conn, err := grpc.NewClient(otlpAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)

	probeReq := ptraceotlp.NewExportRequestFromTraces(tracesFor([]podInfo{probe}, "probe"))
	lastLog := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := client.Export(ctx, probeReq)
		cancel()
		if err == nil && (!withProcessor || isClosed(sink.firstTagged)) {
			break
		}
		if !withProcessor && err == nil && sink.probes.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			fail("no fully tagged probe span at the sink within 10 minutes (last export error: %v, probes seen %d)", err, sink.probes.Load())
		}
		if time.Since(lastLog) > 10*time.Second {
			t.Logf("%s: waiting for a fully tagged probe span (last export error: %v, probe spans at the sink: %d)", b.name, err, sink.probes.Load())
			lastLog = time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := result{Name: b.name, Scenario: "binary", FirstTaggedSeconds: time.Since(began).Seconds()}
	r.SyncSeconds = r.FirstTaggedSeconds
	r.APIRequests, r.APIBytes = proxy.requests.Load(), proxy.bytes.Load()
	if !withProcessor {
		r.Name += " (no processor)"
	}

	// Memory once the cache is in place, after the same settle time for every run.
	time.Sleep(5 * time.Second)
	pid := cmd.Process.Pid
	r.RSSMiB, r.PeakRSSMiB = procStatusMiB(pid, "VmRSS:"), procStatusMiB(pid, "VmHWM:")
	r.GoHeapMiB = scrapeMetric(metricsPort, "otelcol_process_runtime_heap_alloc_bytes") / (1 << 20)

	// Load: 4 senders, batches of 100 resources (one span each) naming random pods by IP.
	const perBatch, distinct, senders = 100, 64, 4
	reqs := make([]ptraceotlp.ExportRequest, distinct)
	for i := range reqs {
		batch := make([]podInfo, perBatch)
		for j := range batch {
			batch[j] = pods[rng.IntN(len(pods))]
		}
		reqs[i] = ptraceotlp.NewExportRequestFromTraces(tracesFor(batch, "load"))
	}
	loadFor := time.Duration(envInt("BENCH_BINARY_LOAD_SECONDS", 20)) * time.Second
	spans0, tagged0, cpu0, api0 := sink.spans.Load(), sink.tagged.Load(), procCPUSeconds(pid), proxy.bytes.Load()
	loadBegan := time.Now()
	var wg sync.WaitGroup
	var exportErrs atomic.Int64
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; time.Since(loadBegan) < loadFor; i += senders {
				if _, err := client.Export(context.Background(), reqs[i%distinct]); err != nil {
					exportErrs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(loadBegan).Seconds()
	spans, tagged := sink.spans.Load()-spans0, sink.tagged.Load()-tagged0
	r.SpansPerSecond = float64(spans) / elapsed
	if spans > 0 {
		r.Tagged = float64(tagged) / float64(spans)
		r.CPUPerMillion = (procCPUSeconds(pid) - cpu0) / (float64(spans) / 1e6)
	}
	r.LoadAPIBytes = proxy.bytes.Load() - api0
	if n := exportErrs.Load(); n > 0 {
		t.Logf("%s: %d export errors during the load", b.name, n)
	}
	// Memory again after the load: right after sync the heap still holds the decoded pod list
	// (no GC has run since), under load the garbage collector has run many times.
	time.Sleep(10 * time.Second)
	r.RSSAfterLoadMiB = procStatusMiB(pid, "VmRSS:")
	r.HeapAfterLoadMiB = scrapeMetric(metricsPort, "otelcol_process_runtime_heap_alloc_bytes") / (1 << 20)
	if withProcessor {
		sink.mu.Lock()
		t.Logf("%s: attributes of the first fully tagged span: %v", b.name, sink.firstKeys)
		sink.mu.Unlock()
	}
	r.APILog = proxy.calls()
	return r
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// tracesFor builds one resource (with one span) per pod, associated by k8s.pod.ip as an
// OTLP-instrumented app in the pod would be.
func tracesFor(pods []podInfo, service string) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, p := range pods {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("k8s.pod.ip", p.IP)
		rs.Resource().Attributes().PutStr("service.name", service)
		span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.SetName("op")
		span.SetTraceID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		span.SetSpanID([8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	}
	return td
}

// dropPageCache makes both binaries map their text from disk the same way (a freshly linked
// binary sits in the page cache as large folios and reads ~30 MB higher RSS; bench/lib.sh).
func dropPageCache(t *testing.T) {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		t.Logf("page cache not dropped (%v): RSS of a freshly built binary reads high", err)
	}
}

func procStatusMiB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// procCPUSeconds is user+system CPU time of pid.
func procCPUSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces) start at state; utime and stime
	// are fields 14 and 15 of the line.
	rest := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, _ := strconv.ParseFloat(rest[11], 64)
	stime, _ := strconv.ParseFloat(rest[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// scrapeMetric reads one gauge from the collector's own Prometheus endpoint (0 if absent).
func scrapeMetric(port int, name string) float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			fields := strings.Fields(line)
			v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
			return v
		}
	}
	return 0
}
