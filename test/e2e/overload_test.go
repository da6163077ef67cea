//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
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

// The overload configuration, as deploy/ ships it scaled to a 125 MiB container: GOMEMLIMIT is
// 80% of the container, memory_admission refuses requests before they are read once the Go heap
// plus the requests in flight reach 70% of GOMEMLIMIT, memory_limiter stays behind it for data
// that does not come through a network receiver.
const (
	overloadGoMemLimitMiB   = 100
	overloadAdmissionPct    = 70
	overloadReserveMiB      = 4
	overloadLimiterMiB      = 100
	overloadSpikeMiB        = 20
	overloadSpansPerRequest = 500
	overloadSinkDelay       = 200 * time.Millisecond
	overloadBlast           = 15 * time.Second
	// overloadMarginMiB is what the process may hold beyond GOMEMLIMIT. GOMEMLIMIT bounds all
	// memory the Go runtime manages (heap, free heap pages not yet returned, stacks, GC
	// metadata). The runtime can hold it because memory_admission keeps the heap at 70% of it
	// whatever the offered rate: a refused request is never read or decoded, so it leaves no
	// garbage, and an admitted one is covered by its reservation. What the limit does not cover
	// is the binary's written data/bss pages and the lag of the background scavenger, which
	// returns freed pages to the OS asynchronously and aims at 95% of the limit: 10% of
	// GOMEMLIMIT covers both. The bound does not depend on the CPU left to the GC: while the
	// GC lags the heap stays at the limit and requests are refused.
	overloadMarginMiB = overloadGoMemLimitMiB / 10
)

// TestOverloadMemoryLimiter blasts OTLP (gRPC and HTTP) at a collector whose exporter is limited
// by a slow backend, at 10x and 100x what the pipeline delivers, then as fast as the load
// generator can send (gRPC streams and HTTP clients answered as quickly as the collector
// answers), and once more with a CPU-burning process on every core (a busy node: little CPU left
// for the collector's garbage collector). The collector must refuse data with retryable errors
// (gRPC UNAVAILABLE/RESOURCE_EXHAUSTED, HTTP 429/503), survive with its anonymous resident memory
// within GOMEMLIMIT + overloadMarginMiB, and once the load stops and the backend catches up accept
// data again. Every span the collector acknowledged is delivered.
func TestOverloadMemoryLimiter(t *testing.T) {
	// The pipeline sustains one request per sink delay (one exporter consumer).
	sustainable := int(time.Second / overloadSinkDelay)
	t.Run("10x", func(t *testing.T) { runOverload(t, 10*sustainable, false) })
	t.Run("100x", func(t *testing.T) { runOverload(t, 100*sustainable, false) })
	t.Run("generator maximum", func(t *testing.T) { runOverload(t, 0, false) })
	t.Run("generator maximum, every core busy", func(t *testing.T) { runOverload(t, 0, true) })
}

// burnCPU runs one busy-looping process per core until stop is called (or the test ends).
func burnCPU(t *testing.T) (stop func()) {
	t.Helper()
	var cmds []*exec.Cmd
	for range runtime.NumCPU() {
		cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, cmd := range cmds {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// runOverload runs one overload scenario; requestsPerSecond 0 sends without pacing.
func runOverload(t *testing.T, requestsPerSecond int, busyCores bool) {
	const (
		spansPerRequest = overloadSpansPerRequest
		sinkDelay       = overloadSinkDelay
		blast           = overloadBlast
		grpcWorkers     = 8
		httpWorkers     = 2
	)
	grpcPort, httpPort, backend := proctest.FreePort(t), proctest.FreePort(t), addr(proctest.FreePort(t))
	sink := startSpanSink(t, backend)
	sink.delay.Store(int64(sinkDelay))
	cfg := writeFile(t, "overload.yaml", fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "%[1]s"
        max_recv_msg_size_mib: %[3]d
        max_concurrent_streams: 16
        middlewares: [{id: memory_admission}]
      http:
        endpoint: "%[2]s"
        max_request_body_size: %[4]d
        middlewares: [{id: memory_admission}]
extensions:
  memory_admission: {limit_percentage: %[5]d, request_reserve_mib: %[3]d}
processors:
  memory_limiter: {check_interval: 100ms, limit_mib: %[6]d, spike_limit_mib: %[7]d}
exporters:
  otlp_grpc:
    endpoint: %[8]s
    tls: {insecure: true}
    timeout: 10s
    # One consumer against a 200 ms backend: the pipeline sustains 5 requests/s. The queue is
    # bounded far above what memory allows, so the memory limits are what push back.
    sending_queue: {enabled: true, num_consumers: 1, sizer: items, queue_size: 10000000}
service:
  extensions: [memory_admission]
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter], exporters: [otlp_grpc]}
`, addr(grpcPort), addr(httpPort), overloadReserveMiB, overloadReserveMiB<<20, overloadAdmissionPct, overloadLimiterMiB,
		overloadSpikeMiB, backend))
	col := startCollector(t, []string{fmt.Sprintf("GOMEMLIMIT=%dMiB", overloadGoMemLimitMiB)}, "--config", cfg)
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
	stopBurning := func() {}
	if busyCores {
		stopBurning = burnCPU(t)
	}
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
	// Two client connections, so that the streams of one connection do not wait for each other.
	conns := make([]*grpc.ClientConn, 2)
	for i := range conns {
		c, err := grpc.NewClient(addr(grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer c.Close()
		conns[i] = c
	}
	conn := conns[0]
	for g := range grpcWorkers {
		conn := conns[g%len(conns)]
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
	for range httpWorkers {
		wg.Add(1)
		go postHTTP(&wg, next, addr(httpPort), body, func(code int, err error) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				otherErrors = append(otherErrors, err.Error())
			case code == http.StatusOK:
				httpCodes[code]++
				accepted.Add(spansPerRequest)
			default:
				httpCodes[code]++
				refused.Add(spansPerRequest)
			}
		})
	}
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
	stopBurning()
	_, deliveredDuringBlast := sink.counts()
	peak := procStatusKiB(t, pid)

	offered := accepted.Load() + refused.Load()
	deliveredRate := float64(deliveredDuringBlast) / elapsed.Seconds()
	offeredRate := float64(offered) / elapsed.Seconds()
	t.Logf("overload: offered %.0f spans/s (%d requests of %d spans, 1 KiB each), accepted %d, refused %d, delivered %.0f spans/s during the blast (%.1fx over)",
		offeredRate, offered/spansPerRequest, spansPerRequest, accepted.Load(), refused.Load(), deliveredRate, offeredRate/deliveredRate)
	t.Logf("overload: gRPC errors %v, HTTP statuses %v", grpcCodes, httpCodes)
	t.Logf("overload: GOMEMLIMIT %d MiB, memory_admission %d%% of it, busy cores %v; RSS idle %d MiB (anon %d, file %d), max sampled %d MiB (anon %d), peak VmHWM %d MiB",
		overloadGoMemLimitMiB, overloadAdmissionPct, busyCores, idle["VmRSS"]>>10, idle["RssAnon"]>>10, idle["RssFile"]>>10, maxRSS>>10, maxAnon>>10, peak["VmHWM"]>>10)

	require.GreaterOrEqual(t, offeredRate, 10*deliveredRate, "the load must be at least 10x what the pipeline delivers")
	assert.Empty(t, otherErrors, "every refusal is a retryable gRPC UNAVAILABLE/RESOURCE_EXHAUSTED or HTTP 429/503")
	assert.Positive(t, grpcCodes[codes.Unavailable]+grpcCodes[codes.ResourceExhausted], "gRPC clients were told to back off")
	assert.Positive(t, httpCodes[http.StatusTooManyRequests]+httpCodes[http.StatusServiceUnavailable], "HTTP clients were told to back off")
	for code := range httpCodes {
		assert.Containsf(t, []int{http.StatusOK, http.StatusTooManyRequests, http.StatusServiceUnavailable}, code, "HTTP status %d under overload", code)
	}
	assert.Contains(t, col.Output.String(), "Refusing requests before reading them", "memory_admission refused data")

	// Resident memory: the anonymous part is what GOMEMLIMIT and memory_admission govern (Go
	// heap, queue, GC headroom); the file-backed part is the binary's mapped code and read-only
	// data, which no limit controls and the kernel can reclaim: the whole-process peak may add
	// at most what was mapped at idle plus the same margin.
	const anonBoundMiB = overloadGoMemLimitMiB + overloadMarginMiB
	assert.LessOrEqualf(t, maxAnon>>10, int64(anonBoundMiB), "anonymous RSS under overload must stay within GOMEMLIMIT %d MiB + %d MiB",
		overloadGoMemLimitMiB, overloadMarginMiB)
	assert.LessOrEqualf(t, peak["VmHWM"]>>10, int64(anonBoundMiB)+idle["RssFile"]>>10+overloadMarginMiB,
		"peak RSS must stay within GOMEMLIMIT %d MiB + %d MiB + the binary's file-backed pages at idle (%d MiB) + %d MiB",
		overloadGoMemLimitMiB, overloadMarginMiB, idle["RssFile"]>>10, overloadMarginMiB)

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

// postHTTP posts body to the OTLP/HTTP traces endpoint whenever next allows and reports each
// answer.
func postHTTP(wg *sync.WaitGroup, next func() bool, endpoint string, body []byte, report func(code int, err error)) {
	defer wg.Done()
	client := &http.Client{Timeout: 10 * time.Second}
	for next() {
		resp, err := client.Post(fmt.Sprintf("http://%s/v1/traces", endpoint), "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			report(0, err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		report(resp.StatusCode, nil)
	}
}
