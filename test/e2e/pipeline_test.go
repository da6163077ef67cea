//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// sendWithSDK emits spans, log records and a counter with `series` attribute sets through the
// OpenTelemetry Go SDK's OTLP/gRPC exporters, and flushes them.
func sendWithSDK(t *testing.T, endpoint string, spans, logs, series int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	te, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(te))
	tracer := tp.Tracer("e2e")
	for i := 0; i < spans; i++ {
		_, sp := tracer.Start(ctx, fmt.Sprintf("e2e-span-%d", i))
		sp.End()
	}
	require.NoError(t, tp.Shutdown(ctx))

	me, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(endpoint), otlpmetricgrpc.WithInsecure())
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(time.Hour))))
	counter, err := mp.Meter("e2e").Int64Counter("e2e.requests")
	require.NoError(t, err)
	for i := 0; i < series; i++ {
		counter.Add(ctx, int64(i+1), metric.WithAttributes(attribute.Int("series", i)))
	}
	require.NoError(t, mp.Shutdown(ctx))

	le, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(endpoint), otlploggrpc.WithInsecure())
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(le)))
	logger := lp.Logger("e2e")
	for i := 0; i < logs; i++ {
		var rec otellog.Record
		rec.SetBody(attribute.StringValue(fmt.Sprintf("e2e-log-%d", i)))
		rec.SetTimestamp(time.Now())
		logger.Emit(ctx, rec)
	}
	require.NoError(t, lp.Shutdown(ctx))
}

var debugCount = regexp.MustCompile(`"(spans|log records)": (\d+)`)

// defaultPipeline is testdata/pipeline.yaml running with its ports moved to free ones (so tests run
// next to a user's collector); extra are further --set overrides.
type defaultPipeline struct {
	col                                               *proctest.Collector
	grpcPort, httpPort, promPort, healthPort, telPort int
}

func startDefaultPipeline(t *testing.T, extra ...string) defaultPipeline {
	t.Helper()
	p := defaultPipeline{grpcPort: proctest.FreePort(t), httpPort: proctest.FreePort(t), promPort: proctest.FreePort(t), healthPort: proctest.FreePort(t), telPort: proctest.FreePort(t)}
	args := []string{
		"--config", proctest.RepoPath(t, "testdata", "pipeline.yaml"),
		"--set", "receivers::otlp::protocols::grpc::endpoint=" + addr(p.grpcPort),
		"--set", "receivers::otlp::protocols::http::endpoint=" + addr(p.httpPort),
		"--set", "exporters::prometheus::endpoint=" + addr(p.promPort),
		"--set", "extensions::health_check::endpoint=" + addr(p.healthPort),
		"--config", fmt.Sprintf("yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", p.telPort),
	}
	for _, e := range extra {
		args = append(args, "--set", e)
	}
	p.col = startCollector(t, nil, args...)
	p.col.WaitReady(t, readyTimeout)
	return p
}

// TestDefaultPipeline runs testdata/pipeline.yaml: traces and logs show up in the debug exporter,
// metrics on the Prometheus endpoint, health check answers.
func TestDefaultPipeline(t *testing.T) {
	p := startDefaultPipeline(t)
	col, grpcPort, promPort, healthPort, telPort := p.col, p.grpcPort, p.promPort, p.healthPort, p.telPort
	code, _ := httpGet(t, fmt.Sprintf("http://%s/", addr(healthPort)))
	require.Equal(t, http.StatusOK, code, "health_check")

	const spans, logs, series = 25, 30, 4
	sendWithSDK(t, addr(grpcPort), spans, logs, series)

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, body := httpGet(t, fmt.Sprintf("http://%s/metrics", addr(promPort)))
		for i := 0; i < series; i++ {
			assert.Regexp(c, fmt.Sprintf(`e2e_requests_total\{[^}]*series="%d"[^}]*\} %d`, i, i+1), body)
		}
	}, 30*time.Second, 200*time.Millisecond)

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got := map[string]int{}
		for _, m := range debugCount.FindAllStringSubmatch(col.Output.String(), -1) {
			n, _ := strconv.Atoi(m[2])
			got[m[1]] += n
		}
		assert.Equal(c, spans, got["spans"], "spans in debug output")
		assert.Equal(c, logs, got["log records"], "log records in debug output")
	}, 30*time.Second, 200*time.Millisecond)

	_, self := httpGet(t, fmt.Sprintf("http://%s/metrics", addr(telPort)))
	assert.Contains(t, self, "otelcol_receiver_accepted_spans", "collector self-metrics endpoint")
}

// TestForwardToSinkCollector: SDK → otelcol-custom (memory_limiter, batch, OTLP exporter with a
// sending queue) → a second otelcol-custom writing files. Every item arrives exactly once, counted
// by unique id, including what was still batched or queued when the first collector was stopped.
func TestForwardToSinkCollector(t *testing.T) {
	sinkPort, frontPort := proctest.FreePort(t), proctest.FreePort(t)
	dir := t.TempDir()
	sink := startCollector(t, nil, "--config", writeFile(t, "sink.yaml", fmt.Sprintf(`
receivers:
  otlp:
    protocols: {grpc: {endpoint: "%s"}}
exporters:
  file/traces: {path: %s/traces.json}
  file/metrics: {path: %s/metrics.json}
  file/logs: {path: %s/logs.json}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], exporters: [file/traces]}
    metrics: {receivers: [otlp], exporters: [file/metrics]}
    logs: {receivers: [otlp], exporters: [file/logs]}
`, addr(sinkPort), dir, dir, dir)))
	sink.WaitReady(t, readyTimeout)

	front := startCollector(t, nil, "--config", writeFile(t, "front.yaml", fmt.Sprintf(`
receivers:
  otlp:
    protocols: {grpc: {endpoint: "%s"}}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
  batch: {timeout: 10s}
exporters:
  otlp_grpc:
    endpoint: %s
    tls: {insecure: true}
    sending_queue: {enabled: true}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp_grpc]}
    metrics: {receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp_grpc]}
    logs: {receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp_grpc]}
`, addr(frontPort), addr(sinkPort))))
	front.WaitReady(t, readyTimeout)

	const spans, logs, series = 500, 400, 7
	sendWithSDK(t, addr(frontPort), spans, logs, series)
	// The batch timeout (10 s) has not fired yet: a graceful stop must flush it.
	front.Stop(t)
	require.NoError(t, front.Err(), "front collector exit")
	sink.Stop(t)

	spanNames := map[string]int{}
	forEachLine(t, dir+"/traces.json", func(line []byte) {
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
		require.NoError(t, err)
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			for j := 0; j < td.ResourceSpans().At(i).ScopeSpans().Len(); j++ {
				ss := td.ResourceSpans().At(i).ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					spanNames[ss.At(k).Name()]++
				}
			}
		}
	})
	require.Len(t, spanNames, spans)
	for name, n := range spanNames {
		require.Equalf(t, 1, n, "span %s delivered %d times", name, n)
	}

	bodies := map[string]int{}
	forEachLine(t, dir+"/logs.json", func(line []byte) {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
		require.NoError(t, err)
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			for j := 0; j < ld.ResourceLogs().At(i).ScopeLogs().Len(); j++ {
				lr := ld.ResourceLogs().At(i).ScopeLogs().At(j).LogRecords()
				for k := 0; k < lr.Len(); k++ {
					bodies[lr.At(k).Body().Str()]++
				}
			}
		}
	})
	require.Len(t, bodies, logs)

	points := map[int64]int64{}
	forEachLine(t, dir+"/metrics.json", func(line []byte) {
		md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(line)
		require.NoError(t, err)
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			for j := 0; j < md.ResourceMetrics().At(i).ScopeMetrics().Len(); j++ {
				ms := md.ResourceMetrics().At(i).ScopeMetrics().At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					if ms.At(k).Name() != "e2e.requests" {
						continue
					}
					dps := ms.At(k).Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						s, _ := dps.At(d).Attributes().Get("series")
						points[s.Int()] = dps.At(d).IntValue()
					}
				}
			}
		}
	})
	require.Len(t, points, series)
	for s, v := range points {
		require.Equal(t, s+1, v, "counter value for series %d", s)
	}
}

func forEachLine(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) > 0 {
			fn(sc.Bytes())
		}
	}
	require.NoError(t, sc.Err())
}

// TestUpstreamDefaultConfig runs our equivalent of upstream otelcol's default config (otlp, jaeger,
// zipkin → batch → debug; health_check, pprof, zpages) and feeds it a Zipkin span.
func TestUpstreamDefaultConfig(t *testing.T) {
	ports := map[string]int{}
	var env []string
	for _, k := range []string{"HEALTH_PORT", "PPROF_PORT", "ZPAGES_PORT", "OTLP_GRPC_PORT", "OTLP_HTTP_PORT", "JAEGER_GRPC_PORT", "JAEGER_HTTP_PORT", "ZIPKIN_PORT"} {
		ports[k] = proctest.FreePort(t)
		env = append(env, fmt.Sprintf("%s=%d", k, ports[k]))
	}
	cfg := proctest.RepoPath(t, "test", "e2e", "testdata", "upstream-default.yaml")
	out, code := runCommand(t, env, "validate", "--config", cfg)
	require.Equal(t, 0, code, out)

	col := startCollector(t, env, "--config", cfg)
	col.WaitReady(t, readyTimeout)
	for _, u := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/", ports["HEALTH_PORT"]),
		fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", ports["PPROF_PORT"]),
		fmt.Sprintf("http://127.0.0.1:%d/debug/servicez", ports["ZPAGES_PORT"]),
	} {
		code, _ := httpGet(t, u)
		require.Equalf(t, http.StatusOK, code, "GET %s", u)
	}
	span := `[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"zipkin-e2e","timestamp":1600000000000000,"duration":1000,"localEndpoint":{"serviceName":"e2e"}}]`
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/api/v2/spans", ports["ZIPKIN_PORT"]), "application/json", strings.NewReader(span))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Eventually(t, func() bool { return strings.Contains(col.Output.String(), "zipkin-e2e") }, 20*time.Second, 100*time.Millisecond,
		"detailed debug output shows the zipkin span")
}
