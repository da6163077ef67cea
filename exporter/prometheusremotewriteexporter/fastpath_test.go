package prometheusremotewriteexporter

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// recordedSample is one translated sample in a form both translation paths can be compared in.
type recordedSample struct {
	series    string // labels in Prometheus text form
	family    string
	st, t     int64
	value     string // bits, so that NaNs (staleness) compare
	exemplars string
	meta      string
}

func (r recordedSample) String() string {
	return fmt.Sprintf("%s st=%d t=%d v=%s family=%s meta=%s ex=%s", r.series, r.st, r.t, r.value, r.family, r.meta, r.exemplars)
}

func formatLabels(ls []promLabel) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s=%q", l.name, l.value)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

type recorder struct{ got []recordedSample }

func (r *recorder) appendSample(ls []promLabel, family string, s *sampleArgs) {
	var exs []string
	for _, ex := range s.exemplars {
		exs = append(exs, fmt.Sprintf("%s:%v@%d", formatLabels(ex.labels), ex.value, ex.ts))
	}
	r.got = append(r.got, recordedSample{
		series: formatLabels(ls), family: family, st: s.st, t: s.t,
		value: fmt.Sprintf("%x", math.Float64bits(s.v)), exemplars: strings.Join(exs, ";"),
		meta: fmt.Sprintf("%s|%s|%s", s.meta.Type, s.meta.Unit, s.meta.Help),
	})
}

// Append records what Prometheus' converter produces.
func (r *recorder) Append(_ storage.SeriesRef, ls labels.Labels, st, t int64, v float64, _ *histogram.Histogram, _ *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	var pl []promLabel
	ls.Range(func(l labels.Label) { pl = append(pl, promLabel{name: l.Name, value: l.Value}) })
	s := sampleArgs{st: st, t: t, v: v, meta: opts.Metadata}
	for _, ex := range opts.Exemplars {
		pe := promExemplar{value: ex.Value, ts: ex.Ts}
		if !ex.HasTs {
			pe.ts = t
		}
		ex.Labels.Range(func(l labels.Label) { pe.labels = append(pe.labels, promLabel{name: l.Name, value: l.Value}) })
		s.exemplars = append(s.exemplars, pe)
	}
	r.appendSample(pl, opts.MetricFamilyName, &s)
	return 0, nil
}

func (*recorder) Commit() error   { return nil }
func (*recorder) Rollback() error { return nil }

func sortedSamples(rs []recordedSample) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	slices.Sort(out)
	return out
}

// translateFast runs the exporter's fast path the way translator.translateInto does.
func translateFast(settings prw.Settings, md pmetric.Metrics) ([]recordedSample, error) {
	tr := newNumberTranslator(settings)
	var rec recorder
	var errs []error
	for _, rm := range md.ResourceMetrics().All() {
		tr.startResource(rm.Resource())
		var latest pcommon.Timestamp
		hasPoints := false
		for _, sm := range rm.ScopeMetrics().All() {
			if err := tr.startScope(sm); err != nil {
				errs = append(errs, err)
				continue
			}
			for _, m := range sm.Metrics().All() {
				latest, hasPoints = newestTimestamp(m, latest, hasPoints)
				if err := tr.translateMetric(m, &rec); err != nil {
					errs = append(errs, err)
				}
			}
		}
		hash := func(ls []promLabel) uint64 { return maphash.String(testHashSeed, formatLabels(ls)) }
		if err := tr.targetInfo(rm.Resource(), latest, hasPoints, hash); err != nil {
			errs = append(errs, err)
		}
	}
	tr.flushTargetInfo(&rec)
	return rec.got, errorsJoin(errs)
}

var testHashSeed = maphash.MakeSeed()

func errorsJoin(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%v", errs)
}

// assertSameAsConverter translates md with both paths and requires identical samples, except that
// the converter repeats target_info across the data points' time range while the exporter sends
// it once per export: only the converter's newest target_info sample of each series is expected.
func assertSameAsConverter(t *testing.T, settings prw.Settings, md pmetric.Metrics) {
	t.Helper()
	var want recorder
	_, wantErr := prw.NewPrometheusConverter(&want).FromMetrics(context.Background(), md, settings)
	got, gotErr := translateFast(settings, md)
	assert.Equal(t, wantErr != nil, gotErr != nil, "errors: converter %v, fast path %v", wantErr, gotErr)
	require.Equal(t, sortedSamples(newestTargetInfo(want.got)), sortedSamples(got))
}

// newestTargetInfo keeps, of the target_info samples of each series, only the newest.
func newestTargetInfo(rs []recordedSample) []recordedSample {
	newest := map[string]recordedSample{}
	var out []recordedSample
	for _, r := range rs {
		if !strings.HasSuffix(r.family, "target_info") {
			out = append(out, r)
			continue
		}
		if prev, ok := newest[r.series]; !ok || r.t > prev.t {
			newest[r.series] = r
		}
	}
	for _, r := range newest {
		out = append(out, r)
	}
	return out
}

func baseSettings() prw.Settings {
	return prw.Settings{
		AddMetricSuffixes:               true,
		PromoteScopeMetadata:            true,
		LabelNameUnderscoreSanitization: true,
		LookbackDelta:                   5 * time.Minute,
	}
}

// tricky attribute keys and values: collisions after sanitization, reserved names, empty values,
// non-string values, UTF-8, leading underscores and digits.
var (
	trickyKeys = []string{
		"http.method", "http_method", "http-method", "job", "instance", "__name__", "_private", "__reserved__",
		"1st", "otel_scope_version", "otel_scope_name", "k8s.pod.name", "ünïcode", "a.b.c", "a_b_c", "le", "cluster",
	}
	trickyValues = []func(pcommon.Value){
		func(v pcommon.Value) { v.SetStr("GET") },
		func(v pcommon.Value) { v.SetStr("") },
		func(v pcommon.Value) { v.SetStr("välue with \"quotes\"") },
		func(v pcommon.Value) { v.SetInt(-42) },
		func(v pcommon.Value) { v.SetInt(1 << 40) },
		func(v pcommon.Value) { v.SetDouble(3.25) },
		func(v pcommon.Value) { v.SetBool(true) },
		func(v pcommon.Value) { v.SetEmptySlice().AppendEmpty().SetStr("x") },
	}
)

func randomAttrs(r *rand.Rand, m pcommon.Map, n int) {
	for range n {
		trickyValues[r.IntN(len(trickyValues))](m.PutEmpty(trickyKeys[r.IntN(len(trickyKeys))]))
	}
}

// randomNumberMetrics builds gauges and sums with random attributes, resources and scopes.
func randomNumberMetrics(r *rand.Rand) pmetric.Metrics {
	md := pmetric.NewMetrics()
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for range 1 + r.IntN(3) {
		rm := md.ResourceMetrics().AppendEmpty()
		res := rm.Resource().Attributes()
		if r.IntN(4) > 0 {
			res.PutStr("service.name", []string{"svc", "other"}[r.IntN(2)])
		}
		if r.IntN(2) == 0 {
			res.PutStr("service.namespace", "ns")
		}
		if r.IntN(3) > 0 {
			res.PutStr("service.instance.id", "inst-1")
		}
		randomAttrs(r, res, r.IntN(3))
		for range 1 + r.IntN(2) {
			sm := rm.ScopeMetrics().AppendEmpty()
			if r.IntN(3) > 0 {
				sm.Scope().SetName("scope.a")
				sm.Scope().SetVersion([]string{"", "1.2"}[r.IntN(2)])
				randomAttrs(r, sm.Scope().Attributes(), r.IntN(3))
				sm.SetSchemaUrl([]string{"", "https://opentelemetry.io/schemas/1.26.0"}[r.IntN(2)])
			}
			for range 1 + r.IntN(3) {
				m := sm.Metrics().AppendEmpty()
				m.SetName([]string{"http.server.active_requests", "system.cpu.time", "queue.size", "weird name!", "requests_total"}[r.IntN(5)])
				m.SetUnit([]string{"", "1", "s", "By", "{request}", "ms/s"}[r.IntN(6)])
				m.SetDescription([]string{"", "Help text"}[r.IntN(2)])
				if r.IntN(4) == 0 {
					randomHistogram(r, m, base)
					continue
				}
				var dps pmetric.NumberDataPointSlice
				switch r.IntN(4) {
				case 0:
					dps = m.SetEmptyGauge().DataPoints()
				case 1:
					sum := m.SetEmptySum()
					sum.SetIsMonotonic(true)
					sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
					dps = sum.DataPoints()
				case 2:
					sum := m.SetEmptySum()
					sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
					dps = sum.DataPoints()
				default:
					sum := m.SetEmptySum()
					sum.SetIsMonotonic(true)
					sum.SetAggregationTemporality([]pmetric.AggregationTemporality{pmetric.AggregationTemporalityDelta, pmetric.AggregationTemporalityCumulative}[r.IntN(2)])
					dps = sum.DataPoints()
				}
				for range r.IntN(4) {
					dp := dps.AppendEmpty()
					randomAttrs(r, dp.Attributes(), r.IntN(5))
					ts := base.Add(time.Duration(r.IntN(1200)) * time.Second)
					dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
					if r.IntN(2) == 0 {
						dp.SetStartTimestamp(pcommon.NewTimestampFromTime(ts.Add(-time.Hour)))
					}
					if r.IntN(2) == 0 {
						dp.SetIntValue(int64(r.IntN(1000)))
					} else {
						dp.SetDoubleValue(r.Float64() * 100)
					}
					if r.IntN(8) == 0 {
						dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
					}
					for range r.IntN(3) {
						ex := dp.Exemplars().AppendEmpty()
						ex.SetDoubleValue(r.Float64())
						if r.IntN(2) == 0 {
							ex.SetTimestamp(pcommon.NewTimestampFromTime(ts))
						}
						if r.IntN(2) == 0 {
							ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(r.IntN(256))})
							ex.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(r.IntN(256))})
						}
						ex.FilteredAttributes().PutStr("user", strings.Repeat("u", r.IntN(120)))
					}
				}
			}
		}
	}
	return md
}

// randomHistogram makes m an explicit-bucket histogram with random bounds (sometimes fewer counts
// than bounds + 1), sums, staleness, temporality and exemplars in random order.
func randomHistogram(r *rand.Rand, m pmetric.Metric, base time.Time) {
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality([]pmetric.AggregationTemporality{pmetric.AggregationTemporalityCumulative,
		pmetric.AggregationTemporalityCumulative, pmetric.AggregationTemporalityDelta}[r.IntN(3)])
	for range r.IntN(4) {
		dp := h.DataPoints().AppendEmpty()
		randomAttrs(r, dp.Attributes(), r.IntN(4))
		if r.IntN(6) == 0 {
			dp.Attributes().PutStr("le", "from an attribute")
		}
		ts := base.Add(time.Duration(r.IntN(1200)) * time.Second)
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		if r.IntN(2) == 0 {
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(ts.Add(-time.Hour)))
		}
		bound := -1.0
		var total uint64
		for range r.IntN(6) {
			bound += r.Float64() * 10
			dp.ExplicitBounds().Append([]float64{bound, math.Round(bound), 1e-9, 1e21}[r.IntN(4)])
		}
		n := dp.ExplicitBounds().Len() + 1
		if r.IntN(5) == 0 {
			n = r.IntN(n + 1)
		}
		for range n {
			c := uint64(r.IntN(50))
			total += c
			dp.BucketCounts().Append(c)
		}
		dp.SetCount(total)
		if r.IntN(3) > 0 {
			dp.SetSum(r.Float64() * 1000)
		}
		if r.IntN(8) == 0 {
			dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}
		for range r.IntN(4) {
			ex := dp.Exemplars().AppendEmpty()
			ex.SetDoubleValue([]float64{r.Float64() * 20, math.NaN(), -3}[r.IntN(3)])
			if r.IntN(2) == 0 {
				ex.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			}
			if r.IntN(2) == 0 {
				ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(r.IntN(256))})
			}
		}
	}
}

// The fast path for gauges, sums and target_info produces exactly the samples, labels, exemplars
// and metadata of Prometheus' converter, over random inputs full of naming corner cases and every
// naming setting the exporter can configure.
func TestNumberTranslatorMatchesConverter(t *testing.T) {
	variants := map[string]func(*prw.Settings){
		"default":       func(*prw.Settings) {},
		"no-suffixes":   func(s *prw.Settings) { s.AddMetricSuffixes = false },
		"utf8":          func(s *prw.Settings) { s.AllowUTF8 = true },
		"namespace":     func(s *prw.Settings) { s.Namespace = "ns1" },
		"no-scope":      func(s *prw.Settings) { s.PromoteScopeMetadata = false },
		"no-targetinfo": func(s *prw.Settings) { s.DisableTargetInfo = true },
		"external": func(s *prw.Settings) {
			s.ExternalLabels = map[string]string{"cluster": "c1", "job": "ext-job", "region": "eu", "http_method": "ext"}
		},
		"keep-underscores": func(s *prw.Settings) { s.LabelNameUnderscoreSanitization = false },
	}
	for name, mutate := range variants {
		t.Run(name, func(t *testing.T) {
			settings := baseSettings()
			mutate(&settings)
			r := rand.New(rand.NewPCG(42, uint64(len(name))))
			for i := range 300 {
				md := randomNumberMetrics(r)
				t.Run(fmt.Sprint(i), func(t *testing.T) { assertSameAsConverter(t, settings, md) })
				if t.Failed() {
					return
				}
			}
		})
	}
}

// The fast path also matches on the allTypes fixture's gauges and sums (exemplar with trace ids).
func TestNumberTranslatorMatchesConverterFixture(t *testing.T) {
	md := allTypes(time.Unix(1_700_000_000, 0), 3)
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return !newNumberTranslator(baseSettings()).fastPath(m.Type()) })
		}
	}
	assertSameAsConverter(t, baseSettings(), md)
}
