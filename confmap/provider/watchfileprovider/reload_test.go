package watchfileprovider_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otelcol-custom/otelcol-custom/confmap/provider/watchfileprovider"
)

// generationHeader is set by the OTLP exporter from its config; the sink reads it to tell which
// configuration (pipeline generation) exported a request.
const generationHeader = "x-config-generation"

func testFactories() (otelcol.Factories, error) {
	var f otelcol.Factories
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap(otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap(otlpexporter.NewFactory(), debugexporter.NewFactory()); err != nil {
		return f, err
	}
	if f.Extensions, err = otelcol.MakeFactoryMap(filestorage.NewFactory()); err != nil {
		return f, err
	}
	f.Telemetry = otelconftelemetry.NewFactory()
	return f, nil
}

// traceSink is an OTLP/gRPC backend that records every span ID it accepted and when the first
// request of each config generation arrived. It can be paused (answers Unavailable) so that data
// piles up in the collector's persistent queue.
type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	addr string
	srv  *grpc.Server

	mu         sync.Mutex
	paused     bool
	seen       map[uint64]int
	firstSeen  map[string]time.Time // generation -> first accepted request
	firstTried map[string]time.Time // generation -> first request, accepted or not
}

func startSink(t testing.TB) *traceSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &traceSink{addr: ln.Addr().String(), srv: grpc.NewServer(), seen: map[uint64]int{}, firstSeen: map[string]time.Time{}, firstTried: map[string]time.Time{}}
	ptraceotlp.RegisterGRPCServer(s.srv, s)
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(s.srv.Stop)
	return s
}

func (s *traceSink) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	now := time.Now()
	gen := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(generationHeader)) > 0 {
		gen = md.Get(generationHeader)[0]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.firstTried[gen]; !ok {
		s.firstTried[gen] = now
	}
	if s.paused {
		return ptraceotlp.NewExportResponse(), status.Error(codes.Unavailable, "sink paused by the test")
	}
	if _, ok := s.firstSeen[gen]; !ok {
		s.firstSeen[gen] = now
	}
	rss := req.Traces().ResourceSpans()
	for i := range rss.Len() {
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				id := spans.At(k).SpanID()
				s.seen[binary.BigEndian.Uint64(id[:])]++
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func (s *traceSink) setPaused(p bool) {
	s.mu.Lock()
	s.paused = p
	s.mu.Unlock()
}

func (s *traceSink) firstAccepted(gen string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, ok := s.firstSeen[gen]
	return ts, ok
}

func (s *traceSink) firstAttempt(gen string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, ok := s.firstTried[gen]
	return ts, ok
}

func (s *traceSink) distinctSeen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// missing returns the IDs below n the sink never accepted, and how many were delivered twice
// (at-least-once delivery may repeat requests that were in flight during a reload).
func (s *traceSink) missing(n uint64) (missing []uint64, duplicates int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range n {
		switch c := s.seen[id]; {
		case c == 0:
			missing = append(missing, id)
		case c > 1:
			duplicates += c - 1
		}
	}
	return missing, duplicates
}

// loadGenerator sends OTLP trace requests with sequential span IDs to the collector, retrying a
// request until the collector accepts it (as an OTLP client with retries does), so every ID
// below acked() was accepted by the collector and must reach the sink.
type loadGenerator struct {
	client       ptraceotlp.GRPCClient
	conn         *grpc.ClientConn
	spansPerReq  int
	interval     time.Duration
	acked        atomic.Uint64
	retries      atomic.Int64
	stop, done   chan struct{}
	mu           sync.Mutex
	outages      []time.Duration // how long the collector refused data, per refusal streak
	streakOpened time.Time
}

func startLoad(t testing.TB, endpoint string) *loadGenerator {
	// The receiver is down for the moment of the restart; a client on gRPC's default reconnect
	// backoff (1s base) would measure its own backoff rather than the reload.
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 100 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	require.NoError(t, err)
	g := &loadGenerator{client: ptraceotlp.NewGRPCClient(conn), conn: conn, spansPerReq: 10, interval: 2 * time.Millisecond, stop: make(chan struct{}), done: make(chan struct{})}
	go g.run()
	t.Cleanup(func() { g.halt(); _ = conn.Close() })
	return g
}

func (g *loadGenerator) request(first uint64) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range uint64(g.spansPerReq) {
		sp := spans.AppendEmpty()
		var id [8]byte
		binary.BigEndian.PutUint64(id[:], first+i)
		sp.SetSpanID(id)
		sp.SetTraceID([16]byte{1, byte((first + i) >> 8), byte(first + i)})
		sp.SetName("reload-load")
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

func (g *loadGenerator) run() {
	defer close(g.done)
	next := uint64(0)
	for {
		select {
		case <-g.stop:
			return
		case <-time.After(g.interval):
		}
		req := g.request(next)
		// The current request is retried until accepted even after stop, so acked() is exact; a
		// collector that is gone for good is given up on 10s after stop, without counting it.
		var stoppedAt time.Time
		for {
			select {
			case <-g.stop:
				if stoppedAt.IsZero() {
					stoppedAt = time.Now()
				} else if time.Since(stoppedAt) > 10*time.Second {
					return
				}
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := g.client.Export(ctx, req)
			cancel()
			if err == nil {
				g.mu.Lock()
				if !g.streakOpened.IsZero() {
					g.outages = append(g.outages, time.Since(g.streakOpened))
					g.streakOpened = time.Time{}
				}
				g.mu.Unlock()
				break
			}
			g.mu.Lock()
			if g.streakOpened.IsZero() {
				g.streakOpened = time.Now()
			}
			g.mu.Unlock()
			g.retries.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
		next += uint64(g.spansPerReq)
		g.acked.Store(next)
	}
}

func (g *loadGenerator) halt() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

func (g *loadGenerator) outageStats() []time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.outages)
}

// reloadHarness runs an in-process collector whose only config source is a watchfile URI on a
// directory laid out like a Kubernetes ConfigMap volume.
type reloadHarness struct {
	tb         testing.TB
	dir        string // the "volume": config.yaml -> ..data/config.yaml
	storageDir string
	receiver   string
	sink       *traceSink
	logs       *observer.ObservedLogs
	col        *otelcol.Collector
	runErr     chan error
	version    int
	// providers are the watchfile providers the collector created, kept so a test can shut them
	// down when the collector itself does not (see TestCollectorExitsOnInvalidReloadWithoutFullValidation).
	providers []confmap.Provider
}

func freeEndpoint(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func newReloadHarness(tb testing.TB, fullValidation bool) *reloadHarness {
	h := &reloadHarness{
		tb:         tb,
		dir:        tb.TempDir(),
		storageDir: tb.TempDir(),
		receiver:   freeEndpoint(tb),
		sink:       startSink(tb),
		runErr:     make(chan error, 1),
	}
	h.swapConfig(h.config("1"))

	core, logs := observer.New(zapcore.InfoLevel)
	h.logs = logs
	set := otelcol.CollectorSettings{
		Factories:               testFactories,
		DisableGracefulShutdown: true,
		SkipSettingGRPCLogger:   true,
		LoggingOptions:          []zap.Option{zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, core) })},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs: []string{"watchfile:" + filepath.Join(h.dir, "config.yaml")},
		}},
	}
	// Full validation is what makes semantically wrong configs safe; the harness without it
	// shows what the collector does on its own.
	var validator watchfileprovider.ConfigValidator
	if fullValidation {
		validator = watchfileprovider.NewCollectorValidator(set)
	}
	watchfile := watchfileprovider.NewFactoryWithOptions(watchfileprovider.WithConfigValidator(validator))
	set.ConfigProviderSettings.ResolverSettings.ProviderFactories = append(set.ConfigProviderSettings.ResolverSettings.ProviderFactories,
		confmap.NewProviderFactory(func(ps confmap.ProviderSettings) confmap.Provider {
			p := watchfile.Create(ps)
			h.providers = append(h.providers, p)
			return p
		}))

	col, err := otelcol.NewCollector(set)
	require.NoError(tb, err)
	h.col = col
	go func() { h.runErr <- col.Run(context.Background()) }()
	tb.Cleanup(func() {
		col.Shutdown()
		select {
		case <-h.runErr:
		case <-time.After(30 * time.Second):
			tb.Error("collector did not stop within 30s")
		}
	})
	h.waitRunning(30 * time.Second)
	return h
}

func (h *reloadHarness) config(generation string) string {
	return collectorConfig(h.storageDir, h.receiver, h.sink.addr, generation)
}

// collectorConfig is an OTLP-in/OTLP-out pipeline with a persistent sending queue; generation is
// sent as a gRPC header so the sink can tell which configuration exported a request.
func collectorConfig(storageDir, receiver, sink, generation string) string {
	return fmt.Sprintf(`extensions:
  file_storage:
    directory: %s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  otlp:
    endpoint: %s
    compression: none
    tls:
      insecure: true
    headers:
      %s: "%s"
    timeout: 2s
    retry_on_failure:
      initial_interval: 10ms
      max_interval: 50ms
      max_elapsed_time: 0s
    sending_queue:
      storage: file_storage
      queue_size: 100000
      block_on_overflow: true
service:
  extensions: [file_storage]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
`, storageDir, receiver, sink, generationHeader, generation)
}

// swapConfig publishes content the way the kubelet updates a ConfigMap volume (new timestamped
// directory, ..data symlink renamed over, old directory removed) and returns when it is visible.
func (h *reloadHarness) swapConfig(content string) time.Time {
	h.version++
	return kubeletSwap(h.tb, h.dir, h.version, content)
}

// kubeletSwap writes content as version of the ConfigMap volume in dir: the data goes to a new
// timestamped directory, a temporary ..data symlink to it is renamed over ..data, config.yaml
// points through ..data, and the previous directory is removed. It returns the rename time.
func kubeletSwap(tb testing.TB, dir string, version int, content string) time.Time {
	ts := filepath.Join(dir, fmt.Sprintf("..2026_11_23_%04d", version))
	require.NoError(tb, os.Mkdir(ts, 0o755))
	require.NoError(tb, os.WriteFile(filepath.Join(ts, "config.yaml"), []byte(content), 0o600))
	old, oldErr := os.Readlink(filepath.Join(dir, "..data"))
	require.NoError(tb, os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data_tmp")))
	written := time.Now()
	require.NoError(tb, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	if _, err := os.Lstat(filepath.Join(dir, "config.yaml")); errors.Is(err, os.ErrNotExist) {
		require.NoError(tb, os.Symlink(filepath.Join("..data", "config.yaml"), filepath.Join(dir, "config.yaml")))
	}
	if oldErr == nil {
		require.NoError(tb, os.RemoveAll(filepath.Join(dir, old)))
	}
	return written
}

func (h *reloadHarness) waitRunning(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for h.col.GetState() != otelcol.StateRunning {
		select {
		case err := <-h.runErr:
			h.tb.Fatalf("collector exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			h.tb.Fatalf("collector not running after %v (state %v)", timeout, h.col.GetState())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *reloadHarness) waitLog(substr string, timeout time.Duration) observer.LoggedEntry {
	h.tb.Helper()
	var found observer.LoggedEntry
	waitFor(h.tb, timeout, "log line "+substr, func() bool {
		entries := h.logs.FilterMessageSnippet(substr).All()
		if len(entries) == 0 {
			return false
		}
		found = entries[len(entries)-1]
		return true
	})
	return found
}

// reloadTiming splits one reload: write -> provider signals (debounce and validation), signal ->
// new service ready (collector shutdown and start), write -> first request the sink accepted from
// the new pipeline (the end-to-end figure).
type reloadTiming struct {
	signal, ready, firstExport time.Duration
}

// reloadOnce publishes a config of a new generation and measures how long it takes to be active.
func (h *reloadHarness) reloadOnce(generation string) reloadTiming {
	written := h.swapConfig(h.config(generation))
	var first time.Time
	waitFor(h.tb, 30*time.Second, "first request of generation "+generation, func() bool {
		var ok bool
		first, ok = h.sink.firstAccepted(generation)
		return ok
	})
	timing := reloadTiming{firstExport: first.Sub(written)}
	var signalled time.Time
	for _, e := range h.logs.FilterMessageSnippet("passed validation").All() {
		if e.Time.After(written) {
			signalled = e.Time
			timing.signal = e.Time.Sub(written)
			break
		}
	}
	for _, e := range h.logs.FilterMessageSnippet("Everything is ready").All() {
		if !signalled.IsZero() && e.Time.After(signalled) {
			timing.ready = e.Time.Sub(written)
			break
		}
	}
	return timing
}

// summarize returns "min/median/max" of one component of the timings.
func summarize(timings []reloadTiming, pick func(reloadTiming) time.Duration) (sorted []time.Duration, text string) {
	for _, t := range timings {
		sorted = append(sorted, pick(t))
	}
	slices.Sort(sorted)
	return sorted, fmt.Sprintf("min %v / median %v / max %v",
		sorted[0].Round(time.Millisecond), percentile(sorted, 0.5).Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
}

func logTimings(tb testing.TB, timings []reloadTiming) {
	_, signal := summarize(timings, func(t reloadTiming) time.Duration { return t.signal })
	_, ready := summarize(timings, func(t reloadTiming) time.Duration { return t.ready })
	_, first := summarize(timings, func(t reloadTiming) time.Duration { return t.firstExport })
	tb.Logf("%d reloads under load, measured from the kubelet-style symlink swap: provider signals %s; new service ready %s; first request exported by the new pipeline %s",
		len(timings), signal, ready, first)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)]
}

func TestReloadUnderLoadKeepsPersistentQueueAndRejectsBadConfigs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the in-process collector reload test in -short mode: it runs a collector for ~15s")
	}
	h := newReloadHarness(t, true)
	load := startLoad(t, h.receiver)
	waitFor(t, 30*time.Second, "first data at the sink", func() bool { return h.sink.distinctSeen() > 0 })

	// 1. Reloads under load with the sink up: measure write -> new pipeline exporting.
	var timings []reloadTiming
	for i := 2; i <= 6; i++ {
		timings = append(timings, h.reloadOnce(fmt.Sprint(i)))
	}
	logTimings(t, timings)

	// 2. Sink down: data piles up in the persistent queue, then reload while it is queued.
	h.sink.setPaused(true)
	queuedFrom := load.acked.Load()
	waitFor(t, 30*time.Second, "data queued while the sink is down", func() bool { return load.acked.Load() > queuedFrom+2000 })
	h.swapConfig(h.config("7"))
	waitFor(t, 30*time.Second, "the reloaded pipeline retrying towards the sink", func() bool {
		_, ok := h.sink.firstAttempt("7")
		return ok
	})

	// 3. A malformed file is rejected with a clear log line; the pipeline keeps accepting data.
	h.swapConfig("receivers:\n  otlp:\n    protocols: [grpc\n")
	entry := h.waitLog("Rejected the changed config file", 10*time.Second)
	assert.Contains(t, entry.ContextMap()["error"], "not valid YAML")
	before := load.acked.Load()
	waitFor(t, 10*time.Second, "data accepted after the rejected change", func() bool { return load.acked.Load() > before+500 })
	assert.Equal(t, otelcol.StateRunning, h.col.GetState())

	// 4. A well-formed file the collector cannot load (typo in a field name) is rejected by the
	// full validation, naming the component and the key.
	bad := strings.Replace(h.config("8"), "    compression: none\n", "    compresion: none\n", 1)
	h.swapConfig(bad)
	var rejection string
	waitFor(t, 10*time.Second, "rejection of the config with a typo", func() bool {
		for _, e := range h.logs.FilterMessageSnippet("Rejected the changed config file").All() {
			if msg := fmt.Sprint(e.ContextMap()["error"]); strings.Contains(msg, "compresion") {
				rejection = msg
				return true
			}
		}
		return false
	})
	assert.Contains(t, rejection, "has invalid keys: compresion")
	assert.Contains(t, rejection, `"otlp"`)
	t.Logf("rejection logged: %s", rejection)
	before = load.acked.Load()
	waitFor(t, 10*time.Second, "data accepted after the second rejected change", func() bool { return load.acked.Load() > before+500 })
	_, gen8 := h.sink.firstAttempt("8")
	assert.False(t, gen8, "the rejected config must never run")
	assert.Equal(t, otelcol.StateRunning, h.col.GetState())

	// 5. Sink back: everything the collector ever accepted arrives.
	h.sink.setPaused(false)
	load.halt()
	total := load.acked.Load()
	for deadline := time.Now().Add(60 * time.Second); h.sink.distinctSeen() < int(total) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	missing, dups := h.sink.missing(total)
	require.Empty(t, missing, "%d of %d spans accepted by the collector were never delivered", len(missing), total)
	outages := load.outageStats()
	slices.Sort(outages)
	t.Logf("sent and acknowledged %d spans, all delivered (%d duplicates from at-least-once redelivery); client retries %d; %d refusal windows, longest %v",
		total, dups, load.retries.Load(), len(outages), percentile(outages, 1))
}

// TestCollectorExitsOnInvalidReloadWithoutFullValidation pins down upstream behaviour that the
// provider has to work around: otelcol v0.161.0 shuts the running service down before it
// unmarshals the new configuration, and if that fails Run returns and the process exits. A config
// that passes the provider's YAML checks but not the collector's must therefore be caught by a
// full validator (NewCollectorValidator in process, the `validate` subcommand in the binary).
func TestCollectorExitsOnInvalidReloadWithoutFullValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the in-process collector reload test in -short mode")
	}
	h := newReloadHarness(t, false)
	h.swapConfig(strings.Replace(h.config("2"), "    compression: none\n", "    compresion: none\n", 1))
	select {
	case err := <-h.runErr:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "failed to setup configuration components")
		assert.Contains(t, err.Error(), "compresion")
		h.runErr <- err // for the harness cleanup
		// On this path otelcol returns from Run without shutting its config providers down, so
		// the watch opened by the failed resolve stays open (harmless in a binary, which exits).
		for _, p := range h.providers {
			assert.NoError(t, p.Shutdown(context.Background()))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("expected otelcol to exit on an invalid reloaded config without full validation; if upstream now keeps running, update the provider docs")
	}
}

// BenchmarkReloadLatency reports the time from a kubelet-style ConfigMap symlink swap to the
// first request exported by the reloaded pipeline, with OTLP load running (ns/op is the mean).
//
//	go test -run '^$' -bench BenchmarkReloadLatency -benchtime 20x ./confmap/provider/watchfileprovider/
func BenchmarkReloadLatency(b *testing.B) {
	h := newReloadHarness(b, true)
	startLoad(b, h.receiver)
	waitFor(b, 30*time.Second, "first data at the sink", func() bool { return h.sink.distinctSeen() > 0 })
	timings := make([]reloadTiming, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		timings = append(timings, h.reloadOnce(fmt.Sprint(i+2)))
	}
	b.StopTimer()
	logTimings(b, timings)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	signal, _ := summarize(timings, func(t reloadTiming) time.Duration { return t.signal })
	ready, _ := summarize(timings, func(t reloadTiming) time.Duration { return t.ready })
	first, _ := summarize(timings, func(t reloadTiming) time.Duration { return t.firstExport })
	b.ReportMetric(ms(percentile(signal, 0.5)), "ms-signal-p50")
	b.ReportMetric(ms(percentile(ready, 0.5)), "ms-ready-p50")
	b.ReportMetric(ms(percentile(first, 0.5)), "ms-active-p50")
	b.ReportMetric(ms(percentile(first, 0.9)), "ms-active-p90")
	b.ReportMetric(ms(first[len(first)-1]), "ms-active-max")
}
