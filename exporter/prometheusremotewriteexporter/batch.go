// Copyright otelcol-custom authors
// SPDX-License-Identifier: Apache-2.0

package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the repeated messages in the remote-write requests. A request is the
// concatenation of its length-delimited fields, so series are encoded one by one into the batch as
// they are translated: no request-sized intermediate structures are built.
const (
	rw1TimeseriesField = 1 // prometheus.WriteRequest.timeseries
	rw1MetadataField   = 3 // prometheus.WriteRequest.metadata
	rw2SymbolsField    = 4 // io.prometheus.write.v2.Request.symbols
	rw2TimeseriesField = 5 // io.prometheus.write.v2.Request.timeseries
)

// batch is one remote-write request under construction for one shard.
type batch struct {
	v2 bool
	// series holds the encoded timeseries fields.
	series []byte
	// RW1: encoded metadata fields, and the metric families already described.
	metadata     []byte
	metaFamilies map[string]struct{}
	// RW2: the request's string table and the encoded size of its entries.
	symbols     writev2.SymbolsTable
	symbolBytes int

	samples, histograms, exemplars int
}

func newBatch(v2 bool) *batch {
	b := &batch{v2: v2}
	if v2 {
		b.symbols = writev2.NewSymbolTable()
	}
	return b
}

func (b *batch) reset() {
	b.series = b.series[:0]
	b.metadata = b.metadata[:0]
	clear(b.metaFamilies)
	if b.v2 {
		b.symbols.Reset()
		b.symbolBytes = 0
	}
	b.samples, b.histograms, b.exemplars = 0, 0, 0
}

func (b *batch) empty() bool { return b.samples == 0 && b.histograms == 0 }

// size is the encoded request size so far.
func (b *batch) size() int { return len(b.series) + len(b.metadata) + b.symbolBytes }

// points is what the batch carries, as counted by the sample metrics and the rate limit.
func (b *batch) points() int { return b.samples + b.histograms }

// request returns the encoded request, appending to dst.
func (b *batch) request(dst []byte) []byte {
	if b.v2 {
		for _, s := range b.symbols.Symbols() {
			dst = protowire.AppendTag(dst, rw2SymbolsField, protowire.BytesType)
			dst = protowire.AppendString(dst, s)
		}
	}
	dst = append(dst, b.series...)
	return append(dst, b.metadata...)
}

// appendMessage appends field `num` holding a gogo-generated message.
func appendMessage(dst []byte, num protowire.Number, m interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
},
) []byte {
	n := m.Size()
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(n))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	// MarshalToSizedBuffer fills the buffer from its end; it cannot fail for these types.
	_, _ = m.MarshalToSizedBuffer(dst[start : start+n])
	return dst
}

// seriesEncoder turns appended samples into protobuf series. It owns scratch structures reused
// across samples; one encoder serves one goroutine.
type seriesEncoder struct {
	ts1      prompb.TimeSeries
	ts2      writev2.TimeSeries
	exBuf    []prompb.Exemplar
	ex2Buf   []writev2.Exemplar
	lblBuf   []prompb.Label
	exLblBuf [][]prompb.Label
}

// estimate is an upper bound of the bytes a sample adds to a batch (before string interning).
func estimate(ls labels.Labels, h *histogram.Histogram, fh *histogram.FloatHistogram, exemplars int) int {
	n := 32 + 16*exemplars
	ls.Range(func(l labels.Label) { n += len(l.Name) + len(l.Value) + 4 })
	if h != nil {
		n += 64 + 10*(len(h.PositiveBuckets)+len(h.NegativeBuckets)+len(h.PositiveSpans)+len(h.NegativeSpans)) + 8*len(h.CustomValues)
	}
	if fh != nil {
		n += 64 + 9*(len(fh.PositiveBuckets)+len(fh.NegativeBuckets)) + 10*(len(fh.PositiveSpans)+len(fh.NegativeSpans)) + 8*len(fh.CustomValues)
	}
	return n
}

// encodeV1 appends one remote write 1.0 series with a single sample or histogram.
func (e *seriesEncoder) encodeV1(b *batch, ls labels.Labels, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, exs []exemplar.Exemplar) {
	ts := &e.ts1
	e.lblBuf = prompb.FromLabels(ls, e.lblBuf[:0])
	ts.Labels = e.lblBuf
	ts.Samples = ts.Samples[:0]
	ts.Histograms = ts.Histograms[:0]
	switch {
	case h != nil:
		ts.Histograms = append(ts.Histograms, prompb.FromIntHistogram(t, h))
		b.histograms++
	case fh != nil:
		ts.Histograms = append(ts.Histograms, prompb.FromFloatHistogram(t, fh))
		b.histograms++
	default:
		ts.Samples = append(ts.Samples, prompb.Sample{Value: v, Timestamp: t})
		b.samples++
	}
	e.exBuf = e.exBuf[:0]
	for len(e.exLblBuf) < len(exs) {
		e.exLblBuf = append(e.exLblBuf, nil)
	}
	for i, ex := range exs {
		e.exLblBuf[i] = prompb.FromLabels(ex.Labels, e.exLblBuf[i][:0])
		ets := ex.Ts
		if !ex.HasTs {
			ets = t
		}
		e.exBuf = append(e.exBuf, prompb.Exemplar{Labels: e.exLblBuf[i], Value: ex.Value, Timestamp: ets})
	}
	ts.Exemplars = e.exBuf
	b.exemplars += len(exs)
	b.series = appendMessage(b.series, rw1TimeseriesField, ts)
}

// encodeMetadataV1 appends the metadata of a metric family once per request.
func (b *batch) encodeMetadataV1(family string, md metadata.Metadata) {
	if family == "" || md.Type == "" {
		return
	}
	if _, ok := b.metaFamilies[family]; ok {
		return
	}
	if b.metaFamilies == nil {
		b.metaFamilies = make(map[string]struct{})
	}
	// The family name's bytes are only valid during Append.
	family = strings.Clone(family)
	b.metaFamilies[family] = struct{}{}
	m := prompb.MetricMetadata{Type: prompb.FromMetadataType(md.Type), MetricFamilyName: family, Help: md.Help, Unit: md.Unit}
	b.metadata = appendMessage(b.metadata, rw1MetadataField, &m)
}

// encodeV2 appends one remote write 2.0 series, interning its strings in the batch symbols.
func (e *seriesEncoder) encodeV2(b *batch, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, exs []exemplar.Exemplar, md metadata.Metadata) {
	before := len(b.symbols.Symbols())
	ts := &e.ts2
	ts.LabelsRefs = b.symbols.SymbolizeLabels(ls, ts.LabelsRefs[:0])
	ts.Samples = ts.Samples[:0]
	ts.Histograms = ts.Histograms[:0]
	switch {
	case h != nil:
		ts.Histograms = append(ts.Histograms, writev2.FromIntHistogram(st, t, h))
		b.histograms++
	case fh != nil:
		ts.Histograms = append(ts.Histograms, writev2.FromFloatHistogram(st, t, fh))
		b.histograms++
	default:
		ts.Samples = append(ts.Samples, writev2.Sample{Value: v, Timestamp: t, StartTimestamp: st})
		b.samples++
	}
	for len(e.ex2Buf) < len(exs) {
		e.ex2Buf = append(e.ex2Buf, writev2.Exemplar{})
	}
	e.ex2Buf = e.ex2Buf[:len(exs)]
	for i, ex := range exs {
		ets := ex.Ts
		if !ex.HasTs {
			ets = t
		}
		e.ex2Buf[i] = writev2.Exemplar{LabelsRefs: b.symbols.SymbolizeLabels(ex.Labels, e.ex2Buf[i].LabelsRefs[:0]), Value: ex.Value, Timestamp: ets}
	}
	ts.Exemplars = e.ex2Buf
	b.exemplars += len(exs)
	ts.Metadata = writev2.Metadata{Type: writev2.FromMetadataType(md.Type)}
	if md.Help != "" {
		ts.Metadata.HelpRef = b.symbols.Symbolize(md.Help)
	}
	if md.Unit != "" {
		ts.Metadata.UnitRef = b.symbols.Symbolize(md.Unit)
	}
	if md.Type == "" {
		ts.Metadata.Type = writev2.Metadata_METRIC_TYPE_UNSPECIFIED
	}
	syms := b.symbols.Symbols()
	for _, s := range syms[before:] {
		b.symbolBytes += len(s) + 1 + protowire.SizeVarint(uint64(len(s)))
	}
	b.series = appendMessage(b.series, rw2TimeseriesField, ts)
}

// createdSeriesName returns the name of the _created series of a remote write 1.0 sample, or "" when
// the sample does not get one: counters, and the _count series of histograms and summaries.
func createdSeriesName(ls labels.Labels, md metadata.Metadata) string {
	name := ls.Get(model.MetricNameLabel)
	switch md.Type {
	case model.MetricTypeCounter:
		return strings.TrimSuffix(name, "_total") + "_created"
	case model.MetricTypeHistogram, model.MetricTypeSummary:
		if base, ok := strings.CutSuffix(name, "_count"); ok {
			return base + "_created"
		}
	}
	return ""
}
