package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"math"
	"strings"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the remote-write messages written here. A request is the concatenation of its
// length-delimited fields, so series are encoded one by one into the batch as they are translated,
// straight from label strings into protobuf bytes: no prompb structures or label slices are built
// per sample.
const (
	rw1TimeseriesField = 1 // prometheus.WriteRequest.timeseries
	rw1MetadataField   = 3 // prometheus.WriteRequest.metadata
	rw2SymbolsField    = 4 // io.prometheus.write.v2.Request.symbols
	rw2TimeseriesField = 5 // io.prometheus.write.v2.Request.timeseries

	// prometheus.TimeSeries and io.prometheus.write.v2.TimeSeries.
	rw1LabelsField     = 1
	rw1SamplesField    = 2
	rw1ExemplarsField  = 3
	rw1HistogramsField = 4
	rw2LabelRefsField  = 1
	rw2SamplesField    = 2
	rw2HistogramsField = 3
	rw2ExemplarsField  = 4
	rw2MetadataField   = 5
)

// promLabel is one label of a series being encoded. Its strings may point into scratch memory
// that is reused after the series is encoded.
type promLabel struct{ name, value string }

// promExemplar is one exemplar of a series being encoded.
type promExemplar struct {
	labels []promLabel
	value  float64
	ts     int64 // milliseconds; the sample's timestamp when the exemplar has none
}

// batch is one remote-write request under construction for one shard.
type batch struct {
	v2 bool
	// series holds the encoded timeseries fields.
	series []byte
	// RW1: encoded metadata fields, and the metric families already described.
	metadata     []byte
	metaFamilies map[string]struct{}
	// RW2: the request's string table.
	symbols symbolTable

	samples, histograms, exemplars int
}

func newBatch(v2 bool) *batch {
	b := &batch{v2: v2}
	if v2 {
		b.symbols.reset()
	}
	return b
}

func (b *batch) reset() {
	b.series = b.series[:0]
	b.metadata = b.metadata[:0]
	clear(b.metaFamilies)
	if b.v2 {
		b.symbols.reset()
	}
	b.samples, b.histograms, b.exemplars = 0, 0, 0
}

func (b *batch) empty() bool { return b.samples == 0 && b.histograms == 0 }

// size is the encoded request size so far.
func (b *batch) size() int { return len(b.series) + len(b.metadata) + len(b.symbols.encoded) }

// points is what the batch carries, as counted by the sample metrics and the rate limit.
func (b *batch) points() int { return b.samples + b.histograms }

// request returns the encoded request, appending to dst.
func (b *batch) request(dst []byte) []byte {
	if b.v2 {
		dst = append(dst, b.symbols.encoded...)
	}
	dst = append(dst, b.series...)
	return append(dst, b.metadata...)
}

// symbolTable is the string table of a remote write 2.0 request. Symbols are kept encoded, in the
// form they take in the request; the index keys point into that encoding, so interning a string
// copies it once and a reused batch allocates nothing for known strings.
type symbolTable struct {
	index   map[string]uint32
	encoded []byte
	n       uint32
}

func (s *symbolTable) reset() {
	if s.index == nil {
		s.index = make(map[string]uint32)
	}
	clear(s.index)
	// The specification requires the empty string as the first symbol.
	s.encoded = protowire.AppendTag(s.encoded[:0], rw2SymbolsField, protowire.BytesType)
	s.encoded = protowire.AppendVarint(s.encoded, 0)
	s.n = 1
}

// ref returns the reference of v, adding it to the table when new.
func (s *symbolTable) ref(v string) uint32 {
	if v == "" {
		return 0
	}
	if r, ok := s.index[v]; ok {
		return r
	}
	s.encoded = protowire.AppendTag(s.encoded, rw2SymbolsField, protowire.BytesType)
	s.encoded = protowire.AppendVarint(s.encoded, uint64(len(v)))
	start := len(s.encoded)
	s.encoded = append(s.encoded, v...)
	// The bytes of an interned symbol are never written again until reset, which also clears the
	// index (a reallocation of encoded leaves earlier keys on the old, unchanged array).
	key := unsafe.String(&s.encoded[start], len(v))
	r := s.n
	s.n++
	s.index[key] = r
	return r
}

// symbols returns the table's strings in reference order (for tests).
func (s *symbolTable) symbols() []string {
	out := make([]string, s.n)
	for k, r := range s.index {
		out[r] = k
	}
	return out
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

// sizeBytesField is the encoded size of a length-delimited field of n bytes with a one-byte tag.
func sizeBytesField(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

func appendBytesHeader(dst []byte, num protowire.Number, n int) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendVarint(dst, uint64(n))
}

// Like the gogo-generated code, scalar fields at their zero value are left out.
func sizeDouble(v float64) int {
	if math.Float64bits(v) == 0 {
		return 0
	}
	return 9
}

func sizeInt(v int64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(uint64(v))
}

func appendDouble(dst []byte, num protowire.Number, v float64) []byte {
	if math.Float64bits(v) == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(dst, math.Float64bits(v))
}

func appendInt(dst []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, uint64(v))
}

// sizeLabelsV1 is the encoded size of repeated prometheus.Label.
func sizeLabelsV1(ls []promLabel) int {
	n := 0
	for _, l := range ls {
		n += sizeBytesField(labelSizeV1(l))
	}
	return n
}

func labelSizeV1(l promLabel) int {
	n := 0
	if l.name != "" {
		n += sizeBytesField(len(l.name))
	}
	if l.value != "" {
		n += sizeBytesField(len(l.value))
	}
	return n
}

func appendLabelsV1(dst []byte, ls []promLabel) []byte {
	for _, l := range ls {
		dst = appendBytesHeader(dst, rw1LabelsField, labelSizeV1(l))
		if l.name != "" {
			dst = appendBytesHeader(dst, 1, len(l.name))
			dst = append(dst, l.name...)
		}
		if l.value != "" {
			dst = appendBytesHeader(dst, 2, len(l.value))
			dst = append(dst, l.value...)
		}
	}
	return dst
}

// seriesEncoder writes series into batches. It owns scratch memory reused across series; one
// encoder serves one goroutine.
type seriesEncoder struct {
	labels []byte   // the series' labels encoded as repeated prometheus.Label (also hashed for sharding)
	refs   []uint32 // RW2 label references of the series and then of its exemplars
	hist1  prompb.Histogram
	hist2  writev2.Histogram
	rename []promLabel // the _created series' labels
}

// estimate is an upper bound of the bytes a sample adds to a batch (before string interning).
func estimate(ls []promLabel, h *histogram.Histogram, fh *histogram.FloatHistogram, exs []promExemplar) int {
	n := 32
	for _, l := range ls {
		n += len(l.name) + len(l.value) + 4
	}
	for _, ex := range exs {
		n += 24
		for _, l := range ex.labels {
			n += len(l.name) + len(l.value) + 4
		}
	}
	if h != nil {
		n += 64 + 10*(len(h.PositiveBuckets)+len(h.NegativeBuckets)+len(h.PositiveSpans)+len(h.NegativeSpans)) + 8*len(h.CustomValues)
	}
	if fh != nil {
		n += 64 + 9*(len(fh.PositiveBuckets)+len(fh.NegativeBuckets)) + 10*(len(fh.PositiveSpans)+len(fh.NegativeSpans)) + 8*len(fh.CustomValues)
	}
	return n
}

// sampleArgs is one sample (or histogram) of a series with what goes with it.
type sampleArgs struct {
	st, t     int64
	v         float64
	h         *histogram.Histogram
	fh        *histogram.FloatHistogram
	exemplars []promExemplar
	meta      metadata.Metadata
}

// encodeLabels encodes ls into the encoder's label buffer and returns it; the bytes identify the
// label set (the encoding is deterministic), so they are also what shards are chosen by.
func (e *seriesEncoder) encodeLabels(ls []promLabel) []byte {
	e.labels = appendLabelsV1(e.labels[:0], ls)
	return e.labels
}

// encode appends one series with a single sample or histogram in the batch's protocol; for remote
// write 1.0, encodedLabels are ls as returned by encodeLabels.
func (e *seriesEncoder) encode(b *batch, ls []promLabel, encodedLabels []byte, s *sampleArgs) {
	if b.v2 {
		e.encodeV2(b, ls, s)
	} else {
		e.encodeV1(b, encodedLabels, s)
	}
}

func (e *seriesEncoder) encodeV1(b *batch, encodedLabels []byte, s *sampleArgs) {
	inner := len(encodedLabels)
	var sampleSize, histSize int
	switch {
	case s.h != nil:
		e.hist1 = prompb.FromIntHistogram(s.t, s.h)
		histSize = e.hist1.Size()
		inner += sizeBytesField(histSize)
	case s.fh != nil:
		e.hist1 = prompb.FromFloatHistogram(s.t, s.fh)
		histSize = e.hist1.Size()
		inner += sizeBytesField(histSize)
	default:
		sampleSize = sizeDouble(s.v) + sizeInt(s.t)
		inner += sizeBytesField(sampleSize)
	}
	for _, ex := range s.exemplars {
		inner += sizeBytesField(sizeLabelsV1(ex.labels) + sizeDouble(ex.value) + sizeInt(ex.ts))
	}

	dst := appendBytesHeader(b.series, rw1TimeseriesField, inner)
	dst = append(dst, encodedLabels...)
	if s.h == nil && s.fh == nil {
		dst = appendBytesHeader(dst, rw1SamplesField, sampleSize)
		dst = appendDouble(dst, 1, s.v)
		dst = appendInt(dst, 2, s.t)
		b.samples++
	}
	for _, ex := range s.exemplars {
		dst = appendBytesHeader(dst, rw1ExemplarsField, sizeLabelsV1(ex.labels)+sizeDouble(ex.value)+sizeInt(ex.ts))
		dst = appendLabelsV1(dst, ex.labels)
		dst = appendDouble(dst, 2, ex.value)
		dst = appendInt(dst, 3, ex.ts)
	}
	if s.h != nil || s.fh != nil {
		dst = appendMessage(dst, rw1HistogramsField, &e.hist1)
		b.histograms++
	}
	b.exemplars += len(s.exemplars)
	b.series = dst
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
	// The family name's bytes may be scratch memory.
	family = strings.Clone(family)
	b.metaFamilies[family] = struct{}{}
	m := prompb.MetricMetadata{Type: prompb.FromMetadataType(md.Type), MetricFamilyName: family, Help: md.Help, Unit: md.Unit}
	b.metadata = appendMessage(b.metadata, rw1MetadataField, &m)
}

func sizePackedRefs(refs []uint32) int {
	n := 0
	for _, r := range refs {
		n += protowire.SizeVarint(uint64(r))
	}
	return n
}

func appendPackedRefs(dst []byte, refs []uint32) []byte {
	if len(refs) == 0 {
		return dst
	}
	dst = appendBytesHeader(dst, rw2LabelRefsField, sizePackedRefs(refs))
	for _, r := range refs {
		dst = protowire.AppendVarint(dst, uint64(r))
	}
	return dst
}

func sizeRefsField(refs []uint32) int {
	if len(refs) == 0 {
		return 0
	}
	return sizeBytesField(sizePackedRefs(refs))
}

func (e *seriesEncoder) encodeV2(b *batch, ls []promLabel, s *sampleArgs) {
	syms := &b.symbols
	refs := e.refs[:0]
	for _, l := range ls {
		refs = append(refs, syms.ref(l.name), syms.ref(l.value))
	}
	nSeries := len(refs)
	for _, ex := range s.exemplars {
		for _, l := range ex.labels {
			refs = append(refs, syms.ref(l.name), syms.ref(l.value))
		}
	}
	e.refs = refs
	seriesRefs := refs[:nSeries]

	mdType := writev2.FromMetadataType(s.meta.Type)
	if s.meta.Type == "" {
		mdType = writev2.Metadata_METRIC_TYPE_UNSPECIFIED
	}
	helpRef, unitRef := syms.ref(s.meta.Help), syms.ref(s.meta.Unit)
	mdSize := sizeInt(int64(mdType)) + sizeInt(int64(helpRef)) + sizeInt(int64(unitRef))

	inner := sizeRefsField(seriesRefs) + sizeBytesField(mdSize)
	var sampleSize, histSize int
	switch {
	case s.h != nil:
		e.hist2 = writev2.FromIntHistogram(s.st, s.t, s.h)
		histSize = e.hist2.Size()
		inner += sizeBytesField(histSize)
	case s.fh != nil:
		e.hist2 = writev2.FromFloatHistogram(s.st, s.t, s.fh)
		histSize = e.hist2.Size()
		inner += sizeBytesField(histSize)
	default:
		sampleSize = sizeDouble(s.v) + sizeInt(s.t) + sizeInt(s.st)
		inner += sizeBytesField(sampleSize)
	}
	off := nSeries
	for _, ex := range s.exemplars {
		n := 2 * len(ex.labels)
		inner += sizeBytesField(sizeRefsField(refs[off:off+n]) + sizeDouble(ex.value) + sizeInt(ex.ts))
		off += n
	}

	dst := appendBytesHeader(b.series, rw2TimeseriesField, inner)
	dst = appendPackedRefs(dst, seriesRefs)
	if s.h == nil && s.fh == nil {
		dst = appendBytesHeader(dst, rw2SamplesField, sampleSize)
		dst = appendDouble(dst, 1, s.v)
		dst = appendInt(dst, 2, s.t)
		dst = appendInt(dst, 3, s.st)
		b.samples++
	} else {
		dst = appendMessage(dst, rw2HistogramsField, &e.hist2)
		b.histograms++
	}
	off = nSeries
	for _, ex := range s.exemplars {
		n := 2 * len(ex.labels)
		exRefs := refs[off : off+n]
		off += n
		dst = appendBytesHeader(dst, rw2ExemplarsField, sizeRefsField(exRefs)+sizeDouble(ex.value)+sizeInt(ex.ts))
		dst = appendPackedRefs(dst, exRefs)
		dst = appendDouble(dst, 2, ex.value)
		dst = appendInt(dst, 3, ex.ts)
	}
	dst = appendBytesHeader(dst, rw2MetadataField, mdSize)
	dst = appendInt(dst, 1, int64(mdType))
	dst = appendInt(dst, 3, int64(helpRef))
	dst = appendInt(dst, 4, int64(unitRef))
	b.exemplars += len(s.exemplars)
	b.series = dst
}

// createdSeriesName returns the name of the _created series of a remote write 1.0 sample, or "" when
// the sample does not get one: counters, and the _count series of histograms and summaries.
func createdSeriesName(name string, md metadata.Metadata) string {
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

// withName returns ls with __name__ set to name, in scratch memory of the encoder.
func (e *seriesEncoder) withName(ls []promLabel, name string) []promLabel {
	e.rename = append(e.rename[:0], ls...)
	for i := range e.rename {
		if e.rename[i].name == model.MetricNameLabel {
			e.rename[i].value = name
		}
	}
	return e.rename
}
