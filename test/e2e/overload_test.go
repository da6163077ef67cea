//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// procStatusKiB reads fields (VmRSS, VmHWM, RssAnon, RssFile) of /proc/<pid>/status in KiB.
func procStatusKiB(t *testing.T, pid int) map[string]int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	out := map[string]int64{}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, "kB") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}

// overloadRequest is one OTLP trace request of n spans with a 1 KiB attribute each, marshalled
// once so the load generator spends its CPU on sending, not encoding.
func overloadRequest(t *testing.T, n int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	payload := strings.Repeat("x", 1024)
	for i := 0; i < n; i++ {
		sp := spans.AppendEmpty()
		sp.SetName("overload-span")
		sp.SetTraceID([16]byte{byte(i >> 8), byte(i), 9})
		sp.SetSpanID([8]byte{byte(i >> 8), byte(i), 9})
		sp.Attributes().PutStr("payload", payload)
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	return b
}

const (
	overloadLimitMiB        = 100
	overloadSpikeMiB        = 20
	overloadSpansPerRequest = 500
	overloadSinkDelay       = 200 * time.Millisecond
	overloadBlast           = 20 * time.Second
)

// TestOverloadMemoryLimiter blasts OTLP (gRPC and HTTP) at a collector whose exporter is limited
// by a slow backend, for 20 s at well over 10x what the pipeline delivers. memory_limiter must
// refuse data with retryable errors (gRPC UNAVAILABLE/RESOURCE_EXHAUSTED, HTTP 429/503), the
// process must survive with its resident memory bounded, and once the load stops and the backend
// catches up it accepts data again. Every span the collector acknowledged is delivered.
//
// Two scenarios: memory_limiter alone at 12x the sustainable rate, and an unpaced flood (as fast
// as four gRPC streams and an HTTP client get answers) with GOMEMLIMIT at 80% of the limit, as the
// deploy/ manifests set it. Without GOMEMLIMIT an unpaced flood is not bounded: every refused
// request is decoded in full before memory_limiter sees it, and the garbage outgrows the limit
// (measured: anonymous RSS 331 MiB, peak RSS 424 MiB for limit_mib 100 at 180x).
func TestOverloadMemoryLimiter(t *testing.T) {
	// The pipeline sustains one request per sink delay (one exporter consumer).
	sustainable := int(time.Second / overloadSinkDelay)
	t.Run("12x with memory_limiter", func(t *testing.T) {
		runOverload(t, nil, 12*sustainable)
	})
	t.Run("flood with memory_limiter and GOMEMLIMIT", func(t *testing.T) {
		runOverload(t, []string{fmt.Sprintf("GOMEMLIMIT=%dMiB", overloadLimitMiB*8/10)}, 0)
	})
}

// runOverload runs one overload scenario; requestsPerSecond 0 sends without pacing.
func runOverload(t *testing.T, env []string, requestsPerSecond int) {
	const (
		limitMiB        = overloadLimitMiB
		spikeMiB        = overloadSpikeMiB
		spansPerRequest = overloadSpansPerRequest
		sinkDelay       = overloadSinkDelay
		blast           = overloadBlast
	)
	grpcPort, httpPort, backend := proctest.FreePort(t), proctest.FreePort(t), addr(proctest.FreePort(t))
	sink := startSpanSink(t, backend)
	sink.delay.Store(int64(sinkDelay))
	cfg := writeFile(t, "overload.yaml", fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "%s"}
      http: {endpoint: "%s"}
processors:
  memory_limiter: {check_interval: 100ms, limit_mib: %d, spike_limit_mib: %d}
exporters:
  otlp_grpc:
    endpoint: %s
    tls: {insecure: true}
    timeout: 10s
    # One consumer against a 200 ms backend: the pipeline sustains 5 requests/s. The queue is
    # bounded far above what memory allows, so memory_limiter is what pushes back.
    sending_queue: {enabled: true, num_consumers: 1, sizer: items, queue_size: 10000000}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter], exporters: [otlp_grpc]}
`, addr(grpcPort), addr(httpPort), limitMiB, spikeMiB, backend))
	col := startCollector(t, env, "--config", cfg)
	col.WaitReady(t, readyTimeout)
	pid := col.Cmd.Process.Pid
	idle := procStatusKiB(t, pid)

	body := overloadRequest(t, spansPerRequest)
	var (
		accepted, refused atomic.Int64
		mu                sync.Mutex
		grpcCodes         = map[codes.Code]int{}
		httpCodes         = map[int]int{}
		otherErrors       []string
		maxRSS, maxAnon   int64
	)
	ctx, stop := context.WithTimeout(context.Background(), blast)
	defer stop()
	// Workers send when the pacer ticks; a tick that finds every worker busy is dropped, so a
	// collector that answers slowly lowers the offered rate (the assertion below would notice).
	next := func() bool { return ctx.Err() == nil }
	if requestsPerSecond > 0 {
		pacer := time.NewTicker(time.Second / time.Duration(requestsPerSecond))
		defer pacer.Stop()
		next = func() bool {
			select {
			case <-pacer.C:
				return true
			case <-ctx.Done():
				return false
			}
		}
	}
	var wg sync.WaitGroup
	conn, err := grpc.NewClient(addr(grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next() {
				var reply []byte
				rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := conn.Invoke(rctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", body, &reply, grpc.ForceCodec(rawCodec{}))
				cancel()
				mu.Lock()
				if err == nil {
					accepted.Add(spansPerRequest)
				} else {
					refused.Add(spansPerRequest)
					grpcCodes[status.Code(err)]++
					if len(otherErrors) < 5 && status.Code(err) != codes.Unavailable && status.Code(err) != codes.ResourceExhausted {
						otherErrors = append(otherErrors, err.Error())
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 10 * time.Second}
		for next() {
			resp, err := client.Post(fmt.Sprintf("http://%s/v1/traces", addr(httpPort)), "application/x-protobuf", bytes.NewReader(body))
			mu.Lock()
			if err != nil {
				otherErrors = append(otherErrors, err.Error())
			} else {
				resp.Body.Close()
				httpCodes[resp.StatusCode]++
				if resp.StatusCode == http.StatusOK {
					accepted.Add(spansPerRequest)
				} else {
					refused.Add(spansPerRequest)
				}
			}
			mu.Unlock()
		}
	}()
	start := time.Now()
	for ctx.Err() == nil {
		select {
		case <-col.Exited():
			t.Fatalf("collector died under overload: %v", col.Err())
		case <-time.After(100 * time.Millisecond):
		}
		st := procStatusKiB(t, pid)
		maxRSS = max(maxRSS, st["VmRSS"])
		maxAnon = max(maxAnon, st["RssAnon"])
	}
	wg.Wait()
	elapsed := time.Since(start)
	_, deliveredDuringBlast := sink.counts()
	peak := procStatusKiB(t, pid)

	offered := accepted.Load() + refused.Load()
	deliveredRate := float64(deliveredDuringBlast) / elapsed.Seconds()
	offeredRate := float64(offered) / elapsed.Seconds()
	t.Logf("overload: offered %.0f spans/s (%d requests of %d spans, 1 KiB each), accepted %d, refused %d, delivered %.0f spans/s during the blast (%.1fx over)",
		offeredRate, offered/spansPerRequest, spansPerRequest, accepted.Load(), refused.Load(), deliveredRate, offeredRate/deliveredRate)
	t.Logf("overload: gRPC errors %v, HTTP statuses %v", grpcCodes, httpCodes)
	envLabel := strings.Join(env, " ")
	if envLabel == "" {
		envLabel = "no GOMEMLIMIT"
	}
	t.Logf("overload: %s, memory_limiter limit %d MiB (spike %d); RSS idle %d MiB (anon %d, file %d), max sampled %d MiB (anon %d), peak VmHWM %d MiB",
		envLabel, limitMiB, spikeMiB, idle["VmRSS"]>>10, idle["RssAnon"]>>10, idle["RssFile"]>>10, maxRSS>>10, maxAnon>>10, peak["VmHWM"]>>10)

	require.GreaterOrEqual(t, offeredRate, 10*deliveredRate, "the load must be at least 10x what the pipeline delivers")
	assert.Empty(t, otherErrors, "every refusal is a retryable gRPC UNAVAILABLE/RESOURCE_EXHAUSTED or HTTP 429/503")
	assert.Positive(t, grpcCodes[codes.Unavailable]+grpcCodes[codes.ResourceExhausted], "gRPC clients were told to back off")
	assert.Positive(t, httpCodes[http.StatusTooManyRequests]+httpCodes[http.StatusServiceUnavailable], "HTTP clients were told to back off")
	for code := range httpCodes {
		assert.Containsf(t, []int{http.StatusOK, http.StatusTooManyRequests, http.StatusServiceUnavailable}, code, "HTTP status %d under overload", code)
	}
	assert.Contains(t, col.Output.String(), "Memory usage is above soft limit. Refusing data.")

	// Resident memory: the anonymous part is what memory_limiter governs (Go heap, queue, GC
	// headroom); the file-backed part is the binary's mapped code and data (~70 MiB, measured at
	// idle), which no limiter controls and the kernel can reclaim.
	const anonMarginMiB, rssMarginMiB = limitMiB * 3 / 10, 50
	assert.LessOrEqualf(t, maxAnon>>10, int64(limitMiB+anonMarginMiB), "anonymous RSS under overload must stay within limit_mib %d + %d MiB", limitMiB, anonMarginMiB)
	assert.LessOrEqualf(t, peak["VmHWM"]>>10, int64(limitMiB)+idle["RssFile"]>>10+rssMarginMiB,
		"peak RSS must stay within limit_mib %d + the binary's file-backed pages at idle (%d MiB) + %d MiB", limitMiB, idle["RssFile"]>>10, rssMarginMiB)

	// Load is gone and the backend keeps up again: the queue drains, memory falls under the limit,
	// and the collector accepts full requests again, consecutively (under overload most fail).
	sink.delay.Store(0)
	stopped := time.Now()
	consecutive := 0
	require.Eventuallyf(t, func() bool {
		var reply []byte
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := conn.Invoke(rctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", body, &reply, grpc.ForceCodec(rawCodec{})); err != nil {
			consecutive = 0
			return false
		}
		accepted.Add(spansPerRequest)
		consecutive++
		return consecutive == 20
	}, 60*time.Second, 50*time.Millisecond, "collector accepts data again after the overload (last streak %d of 20)", consecutive)
	recovered := time.Since(stopped)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, total := sink.counts()
		assert.Equal(c, int(accepted.Load()), total, "every acknowledged span is delivered")
	}, 60*time.Second, 200*time.Millisecond)
	t.Logf("overload: 20 consecutive requests accepted %.1fs after the load stopped; all %d acknowledged spans delivered", recovered.Seconds(), accepted.Load())
	select {
	case <-col.Exited():
		t.Fatalf("collector exited: %v", col.Err())
	default:
	}
	assert.NotContains(t, col.Output.String(), "panic")
}
