package prometheusremotewriteexporter

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// seriesKey formats a series without the labels every allTypes series shares.
func seriesKey(m map[string]string) string {
	var parts []string
	for k, v := range m {
		switch k {
		case "__name__", "job", "instance", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url":
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return m["__name__"]
	}
	return m["__name__"] + "{" + strings.Join(parts, ",") + "}"
}

func labelMap(ls labels.Labels) map[string]string { return ls.Map() }

func TestSinkAllTypes(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			sink := promtest.NewSink()
			sink.KeepSeries = true
			defer sink.Close()
			exp := startExporter(t, sink.URL(), func(c *Config) {
				if v2 {
					c.RemoteWriteProtoMsg = writeV2MessageType
				}
			})
			ts := time.Now().Truncate(time.Millisecond)
			require.NoError(t, exp.ConsumeMetrics(context.Background(), allTypes(ts, 0)))
			require.NoError(t, exp.Shutdown(context.Background()))

			series, ooo := sink.Snapshot()
			assert.Zero(t, ooo)
			assert.Zero(t, sink.Errors.Load())
			got := map[string]float64{}
			hists := 0
			for _, s := range series {
				m := labelMap(s.Labels)
				assert.Equal(t, "ns/svc", m["job"], s.Labels.String())
				assert.Equal(t, "inst-1", m["instance"], s.Labels.String())
				if m["__name__"] != "target_info" {
					assert.Equal(t, "scope.a", m["otel_scope_name"], s.Labels.String())
				}
				if s.Histograms > 0 {
					hists += s.Histograms
					assert.Equal(t, "test_exp_seconds", m["__name__"])
					continue
				}
				require.Len(t, s.Samples, 1, s.Labels.String())
				assert.Equal(t, ts.UnixMilli(), s.Samples[0].Timestamp, s.Labels.String())
				got[seriesKey(m)] = s.Samples[0].Value
				if m["__name__"] == "test_requests_total" {
					assert.Equal(t, 1, s.Exemplars, "counter exemplar")
				}
				if v2 && m["__name__"] == "test_requests_total" {
					assert.Equal(t, "METRIC_TYPE_COUNTER", s.Metadata)
				}
			}
			assert.Equal(t, expectedFloatSeries(0), got)
			assert.Equal(t, 1, hists, "exponential histogram sent as a native histogram")
			assert.EqualValues(t, len(expectedFloatSeries(0)), exp.counter(t, "sent_samples")-1)
			if v2 {
				assert.EqualValues(t, len(expectedFloatSeries(0)), exp.counter(t, "written_samples"))
				assert.EqualValues(t, 1, exp.counter(t, "written_histograms"))
			}
		})
	}
}

func TestStaleMarker(t *testing.T) {
	sink := promtest.NewSink()
	sink.KeepSeries = true
	defer sink.Close()
	exp := startExporter(t, sink.URL(), func(c *Config) { c.TargetInfo.Enabled = false })
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("gone")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
	require.NoError(t, exp.Shutdown(context.Background()))
	series, _ := sink.Snapshot()
	require.Len(t, series, 1)
	assert.True(t, value.IsStaleNaN(series[0].Samples[0].Value), "no-recorded-value becomes a Prometheus stale marker")
}

func TestCreatedSeriesAndMetadataV1(t *testing.T) {
	sink := promtest.NewSink()
	sink.KeepSeries = true
	defer sink.Close()
	exp := startExporter(t, sink.URL(), func(c *Config) {
		c.CreatedMetric.Enabled = true
		c.SendMetadata = true
	})
	ts := time.Now().Truncate(time.Millisecond)
	require.NoError(t, exp.ConsumeMetrics(context.Background(), allTypes(ts, 0)))
	require.NoError(t, exp.Shutdown(context.Background()))
	series, _ := sink.Snapshot()
	created := map[string]float64{}
	for _, s := range series {
		if name := s.Labels.Get("__name__"); strings.HasSuffix(name, "_created") {
			created[name] = s.Samples[0].Value
		}
	}
	start := float64(ts.Add(-time.Hour).UnixMilli()) / 1000
	assert.Equal(t, map[string]float64{"test_requests_created": start, "test_latency_milliseconds_created": start, "test_summary_created": start}, created)
}

// 429 with Retry-After: 2 must delay the next attempt by at least 2 s, then succeed.
func TestRetryAfterHonoured(t *testing.T) {
	for _, header := range []string{"2", time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)} {
		t.Run(header, func(t *testing.T) {
			sink := promtest.NewSink()
			defer sink.Close()
			if strings.Contains(header, "GMT") {
				// An HTTP date has one-second resolution; make it at least 2 s ahead when sent.
				header = ""
			}
			sink.Respond = func(n int64, w http.ResponseWriter) int {
				if n == 1 {
					h := header
					if h == "" {
						h = time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
					}
					w.Header().Set("Retry-After", h)
					return http.StatusTooManyRequests
				}
				return 0
			}
			exp := startExporter(t, sink.URL(), func(c *Config) { c.Shards = 1 })
			require.NoError(t, exp.ConsumeMetrics(context.Background(), allTypes(time.Now(), 0)))
			times := sink.RequestTimes()
			require.Len(t, times, 2)
			assert.GreaterOrEqual(t, times[1].Sub(times[0]), 2*time.Second, "retry came before Retry-After allowed")
			assert.EqualValues(t, 1, exp.counter(t, "retries"))
			assert.EqualValues(t, 13, sink.Samples.Load()+sink.Histograms.Load())
		})
	}
}

func TestServerErrorRetriedWithBackoff(t *testing.T) {
	sink := promtest.NewSink()
	defer sink.Close()
	sink.Respond = func(n int64, _ http.ResponseWriter) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	exp := startExporter(t, sink.URL(), func(c *Config) { c.Shards = 1 })
	require.NoError(t, exp.ConsumeMetrics(context.Background(), allTypes(time.Now(), 0)))
	assert.EqualValues(t, 4, sink.Requests.Load())
	assert.EqualValues(t, 3, exp.counter(t, "retries"))
	assert.Zero(t, exp.counter(t, "failed_samples"))
}

// 400 is permanent: one request, the samples are counted as failed, the export reports an error.
func TestBadRequestDroppedNotRetried(t *testing.T) {
	sink := promtest.NewSink()
	defer sink.Close()
	sink.Respond = func(_ int64, w http.ResponseWriter) int {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("out of order sample"))
		return -1
	}
	exp := startExporter(t, sink.URL(), func(c *Config) { c.Shards = 1 })
	err := exp.ConsumeMetrics(context.Background(), allTypes(time.Now(), 0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "400")
	time.Sleep(300 * time.Millisecond) // a retry would have happened by now
	assert.EqualValues(t, 1, sink.Requests.Load(), "permanent error retried")
	assert.EqualValues(t, 13, exp.counter(t, "failed_samples"))
	assert.Zero(t, exp.counter(t, "retries"))
}

func TestRetriesExhaustedAreCounted(t *testing.T) {
	sink := promtest.NewSink()
	defer sink.Close()
	sink.Respond = func(int64, http.ResponseWriter) int { return http.StatusInternalServerError }
	exp := startExporter(t, sink.URL(), func(c *Config) {
		c.Shards = 1
		c.BackOffConfig.MaxElapsedTime = 300 * time.Millisecond
	})
	require.Error(t, exp.ConsumeMetrics(context.Background(), allTypes(time.Now(), 0)))
	assert.EqualValues(t, 13, exp.counter(t, "failed_samples"))
	assert.Greater(t, sink.Requests.Load(), int64(1))
}

// Many series over many batches through 8 shards: every sample arrives, none out of order, and
// requests stay under max_batch_size_bytes.
func TestShardedOrderingAndBatchSize(t *testing.T) {
	sink := promtest.NewSink()
	defer sink.Close()
	exp := startExporter(t, sink.URL(), func(c *Config) {
		c.Shards = 8
		c.MaxBatchSizeBytes = 5_000
		c.TargetInfo.Enabled = false
	})
	const seriesN, rounds = 2000, 20
	base := time.Now().Add(-time.Hour)
	for r := range rounds {
		md := pmetric.NewMetrics()
		ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
		m := ms.AppendEmpty()
		m.SetName("load")
		dps := m.SetEmptyGauge().DataPoints()
		for s := range seriesN {
			dp := dps.AppendEmpty()
			dp.Attributes().PutInt("series", int64(s))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(r) * time.Second)))
			dp.SetDoubleValue(float64(r))
		}
		require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
	}
	require.NoError(t, exp.Shutdown(context.Background()))
	_, ooo := sink.Snapshot()
	assert.Zero(t, ooo)
	assert.EqualValues(t, seriesN*rounds, sink.Samples.Load())
	assert.Greater(t, sink.Requests.Load(), int64(rounds*8), "batches split by size and shard")
}

// recordingShardSet returns a shard set of e with one sender whose requests are decoded by
// record instead of being sent.
func recordingShardSet(e *prwExporter, record func(b *batch)) *shardSet {
	var mu sync.Mutex
	return newShardSet(1, nil, newBatchPool(e.cfg.remoteWriteV2(), e.cfg.MaxBatchSizeBytes), e.drops, func(_ *shardSet, b *batch) error {
		mu.Lock()
		defer mu.Unlock()
		record(b)
		return nil
	})
}

func TestBatchSizeBound(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxBatchSizeBytes = 5000
	e, err := newExporter(cfg, exportertestSettings())
	require.NoError(t, err)
	var sizes []int
	total := 0
	p := recordingShardSet(e, func(b *batch) {
		sizes = append(sizes, len(b.request(nil)))
		total += b.samples
	})
	a := e.translator.newAppender()
	a.begin(p, &exportCall{}, 1)
	for i := range 1000 {
		ls := labels.FromStrings("__name__", "x", "i", fmt.Sprint(i), "pad", strings.Repeat("p", 50))
		_, err := a.Append(0, ls, 0, int64(i), 1, nil, nil, storageOpts())
		require.NoError(t, err)
	}
	a.flushAll()
	p.wait()
	assert.Equal(t, 1000, total)
	assert.Greater(t, len(sizes), 10)
	assert.LessOrEqual(t, slices.Max(sizes), 5000)
}

func TestIncludeMetadataKeys(t *testing.T) {
	got := make(chan string, 10)
	sink := promtest.NewSink()
	defer sink.Close()
	sink.Respond = func(_ int64, _ http.ResponseWriter) int { return 0 }
	srv := sink.Server.Config.Handler
	sink.Server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("X-Org-Id")
		srv.ServeHTTP(w, r)
	})
	exp := startExporter(t, sink.URL(), func(c *Config) {
		c.IncludeMetadataKeys = []string{"x-org-id"}
		c.Shards = 1
		c.RemoteWriteQueue.Enabled = false
	})
	ctx := client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(map[string][]string{"x-org-id": {"tenant-7"}})})
	require.NoError(t, exp.ConsumeMetrics(ctx, allTypes(time.Now(), 0)))
	assert.Equal(t, "tenant-7", <-got)
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, 2*time.Second, parseRetryAfter("2", now))
	assert.Equal(t, 5*time.Second, parseRetryAfter(now.Add(5*time.Second).Format(http.TimeFormat), now))
	assert.Zero(t, parseRetryAfter("", now))
	assert.Zero(t, parseRetryAfter("-3", now))
	assert.Zero(t, parseRetryAfter("soon", now))
	assert.Zero(t, parseRetryAfter(now.Add(-time.Minute).Format(http.TimeFormat), now))
}

func TestTokenBucket(t *testing.T) {
	clock := time.Unix(0, 0)
	b := newTokenBucket(1000)
	b.now = func() time.Time { return clock }
	b.last = clock
	assert.Zero(t, b.reserve(1000), "a full bucket allows one second of burst")
	assert.Zero(t, b.reserve(500), "the bucket may go into debt once")
	assert.InDelta(t, 500*time.Millisecond, b.reserve(1), float64(time.Millisecond))
	clock = clock.Add(2 * time.Second)
	assert.Zero(t, b.reserve(10))
	assert.False(t, math.IsNaN(b.tokens))
}

func TestRateLimitedThroughput(t *testing.T) {
	sink := promtest.NewSink()
	defer sink.Close()
	exp := startExporter(t, sink.URL(), func(c *Config) {
		c.MaxSamplesPerSecond = 20
		c.Shards = 1
		c.MaxBatchSizeBytes = 500
		c.TargetInfo.Enabled = false
	})
	start := time.Now()
	for i := range 5 {
		require.NoError(t, exp.ConsumeMetrics(context.Background(), allTypes(time.Now().Add(time.Duration(i)*time.Second), i)))
	}
	// 5 requests of 12 samples at 20/s with a 20-sample burst: the last request may start once the
	// debt of the ones before it (48-20 samples) is repaid, 1.4 s.
	assert.GreaterOrEqual(t, time.Since(start), 1400*time.Millisecond)
	assert.EqualValues(t, 60, sink.Samples.Load()+sink.Histograms.Load())
}

// An export that finishes translating before an earlier one keeps its batches until the earlier
// export has handed off all of its own: shards receive exports in the order they started.
func TestHandOffInStartOrder(t *testing.T) {
	e, err := newExporter(createDefaultConfig().(*Config), exportertestSettings())
	require.NoError(t, err)
	sent := make(chan float64, 10)
	p := recordingShardSet(e, func(b *batch) {
		var req prompb.WriteRequest
		if assert.NoError(t, req.Unmarshal(b.request(nil))) {
			sent <- req.Timeseries[0].Samples[0].Value
		}
	})
	newApp := func(value float64) *shardingAppender {
		a := e.translator.newAppender()
		a.begin(p, &exportCall{}, 1)
		ls := labels.FromStrings("__name__", "x")
		_, err := a.Append(0, ls, 0, 1, value, nil, nil, storageOpts())
		require.NoError(t, err)
		return a
	}
	first, second := newApp(1), newApp(2)

	second.flushAll() // not its turn: kept
	time.Sleep(10 * time.Millisecond)
	assert.Empty(t, sent)
	done := make(chan struct{})
	go func() {
		defer close(done)
		second.finish()
	}()
	first.flushAll() // its turn: sent at once
	assert.Equal(t, 1.0, <-sent)
	p.order.done(first.ticket)
	<-done
	assert.Equal(t, 2.0, <-sent)
	p.wait()
}

// A request with only summaries goes to Prometheus' converter uncopied; target_info still comes
// from the fast path. Histograms are on the fast path (all three paths meet in one request in the
// other tests).
func TestConverterOnlyRequest(t *testing.T) {
	sink := promtest.NewSink()
	sink.KeepSeries = true
	defer sink.Close()
	exp := startExporter(t, sink.URL(), nil)
	md := allTypes(time.Now(), 0)
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return m.Type() != pmetric.MetricTypeSummary })
		}
	}
	require.False(t, hasFastPathMetric(md, newNumberTranslator(baseSettings())))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
	require.NoError(t, exp.Shutdown(context.Background()))
	series, _ := sink.Snapshot()
	var got []string
	for _, s := range series {
		got = append(got, seriesKey(labelMap(s.Labels)))
	}
	sort.Strings(got)
	assert.Equal(t, []string{
		`target_info{host_name="h1"}`,
		`test_summary_count`,
		`test_summary_sum`,
		`test_summary{quantile="0.5"}`,
	}, got)
}

// target_info is sent once per resource per export, whatever the data points' timestamps: zero,
// decades old, in the future, or mixed. (Prometheus' converter repeats it every 2.5 minutes over
// the data points' time range: one sample at timestamp 0 used to become ~12 million.)
func TestTargetInfoOncePerExport(t *testing.T) {
	now := time.Now()
	cases := map[string][]time.Time{
		"zero":    {time.Unix(0, 0)},
		"ancient": {now.AddDate(-30, 0, 0)},
		"future":  {now.AddDate(1, 0, 0)},
		"mixed":   {time.Unix(0, 0), now.AddDate(-30, 0, 0), now, now.AddDate(1, 0, 0)},
	}
	for name, stamps := range cases {
		t.Run(name, func(t *testing.T) {
			sink := promtest.NewSink()
			sink.KeepSeries = true
			sink.SkipOrderCheck = true
			defer sink.Close()
			exp := startExporter(t, sink.URL(), nil)
			const exports, resources = 3, 2
			for range exports {
				md := pmetric.NewMetrics()
				for r := range resources {
					rm := md.ResourceMetrics().AppendEmpty()
					rm.Resource().Attributes().PutStr("service.name", fmt.Sprint("svc-", r))
					rm.Resource().Attributes().PutStr("host.name", "h1")
					m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
					m.SetName("test_metric")
					dps := m.SetEmptyGauge().DataPoints()
					for i, ts := range stamps {
						dp := dps.AppendEmpty()
						dp.Attributes().PutInt("i", int64(i))
						dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
						dp.SetDoubleValue(42)
					}
				}
				require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
			}
			series, _ := sink.Snapshot()
			targetInfo := 0
			newest := slices.MaxFunc(stamps, func(a, b time.Time) int { return a.Compare(b) }).UnixMilli()
			for _, s := range series {
				if s.Labels.Get("__name__") == "target_info" {
					for _, smp := range s.Samples {
						targetInfo++
						assert.Equal(t, newest, smp.Timestamp, "target_info carries the newest data point timestamp")
					}
				}
			}
			assert.Equal(t, exports*resources, targetInfo, "one target_info per resource per export")
			assert.EqualValues(t, exports*resources*(len(stamps)+1), sink.Samples.Load(), "data points plus target_info, nothing more")
			assert.EqualValues(t, exports, sink.Requests.Load(), "one request per export")
		})
	}
}

// An export that fits one request is sent as one request, with the default 5 shards; a large one
// is cut into parts sent concurrently; and over many exports every series stays in order.
func TestSmallExportsOneRequest(t *testing.T) {
	gauges := func(series, round int, base time.Time) pmetric.Metrics {
		md := pmetric.NewMetrics()
		dps := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
		md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetName("load")
		for s := range series {
			dp := dps.AppendEmpty()
			dp.Attributes().PutInt("series", int64(s))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(round) * time.Second)))
			dp.SetDoubleValue(float64(round))
		}
		return md
	}
	for _, series := range []int{1, 10, 1000} {
		t.Run(fmt.Sprint(series, " series"), func(t *testing.T) {
			sink := promtest.NewSink()
			defer sink.Close()
			exp := startExporter(t, sink.URL(), func(c *Config) { c.TargetInfo.Enabled = false })
			const rounds = 5
			base := time.Now().Add(-time.Hour)
			for r := range rounds {
				require.NoError(t, exp.ConsumeMetrics(context.Background(), gauges(series, r, base)))
			}
			assert.EqualValues(t, rounds, sink.Requests.Load())
			assert.EqualValues(t, rounds*series, sink.Samples.Load())
		})
	}
	t.Run("large exports", func(t *testing.T) {
		sink := promtest.NewSink()
		defer sink.Close()
		exp := startExporter(t, sink.URL(), func(c *Config) {
			c.TargetInfo.Enabled = false
			c.MaxBatchSizeBytes = 20_000
			c.Shards = 4
		})
		const series, rounds = 2000, 10
		base := time.Now().Add(-time.Hour)
		for r := range rounds {
			require.NoError(t, exp.ConsumeMetrics(context.Background(), gauges(series, r, base)))
		}
		_, ooo := sink.Snapshot()
		assert.Zero(t, ooo, "samples of a series out of order")
		assert.EqualValues(t, series*rounds, sink.Samples.Load())
		assert.GreaterOrEqual(t, sink.Requests.Load(), int64(rounds*4), "large exports are cut into parts")
	})
}

// The shard set sends requests that share no lane concurrently, and a request only after
// every earlier request sharing one of its lanes has finished.
func TestShardSetLaneOrder(t *testing.T) {
	e, err := newExporter(createDefaultConfig().(*Config), exportertestSettings())
	require.NoError(t, err)
	release := map[int]chan struct{}{}
	started := make(chan int, 10)
	for id := range 4 {
		release[id] = make(chan struct{})
	}
	p := newShardSet(2, nil, newBatchPool(false, e.cfg.MaxBatchSizeBytes), e.drops, func(_ *shardSet, b *batch) error {
		id := b.samples
		started <- id
		<-release[id]
		return nil
	})
	call := &exportCall{}
	submit := func(id int, lanes laneSet) {
		b := newBatch(false)
		b.samples = id // the request's name in this test
		call.wg.Add(1)
		p.submit(b, lanes, call)
	}
	submit(0, 1<<0)
	submit(1, 1<<1)       // independent of 0: runs concurrently
	submit(2, 1<<0|1<<1)  // after 0 and 1
	submit(3, 1<<1|1<<63) // after 2
	got := []int{<-started, <-started}
	assert.ElementsMatch(t, []int{0, 1}, got)
	select {
	case id := <-started:
		t.Fatalf("request %d started before the requests sharing its lanes finished", id)
	case <-time.After(50 * time.Millisecond):
	}
	close(release[1])
	select {
	case id := <-started:
		t.Fatalf("request %d started while request 0 (lane 0) is in flight", id)
	case <-time.After(50 * time.Millisecond):
	}
	close(release[0])
	assert.Equal(t, 2, <-started)
	close(release[2])
	assert.Equal(t, 3, <-started)
	close(release[3])
	call.wg.Wait()
	p.wait()
}

// partsFor cuts an export into as many parts as the senders allow without needing more than 15 %
// more requests than the fewest possible.
func TestPartsFor(t *testing.T) {
	e, err := newExporter(createDefaultConfig().(*Config), exportertestSettings()) // 5 shards, 3 MB
	require.NoError(t, err)
	e.translator.learnSize(1, 200) // converges to 200 bytes per data point
	for range 20 {
		e.translator.learnSize(1, 200)
	}
	for _, c := range []struct{ points, parts int }{
		{10, 1}, {1_000, 1}, {14_000, 1}, // fits one request
		{20_000, 2},    // 1.4 requests' worth: two parts of one request each
		{100_000, 4},   // 7 requests' worth: 4 parts of 2 (8 requests) rather than 5 of 2 (10)
		{1_000_000, 5}, // 70 requests' worth: 5 parts of 15 (75 requests)
	} {
		md := pmetric.NewMetrics()
		dps := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
		dps.EnsureCapacity(c.points)
		for range c.points {
			dps.AppendEmpty()
		}
		assert.Equal(t, c.parts, e.translator.partsFor(md), "%d data points", c.points)
	}
}
