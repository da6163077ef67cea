package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"hash/maphash"
	"math"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/otel/metric"
)

// appendOptions are what the appender needs of the configuration, resolved once.
type appendOptions struct {
	v2            bool
	maxBatchBytes int  // max_batch_size_bytes
	createdSeries bool // export_created_metric, remote write 1.0 only
	sendMetadata  bool // send_metadata, remote write 1.0 only
	// seed hashes encoded label sets into lanes; one per exporter, so a series always has the
	// same lane.
	seed maphash.Seed
	// translated counts the series handed to the shards.
	translated metric.Int64Counter
}

// shardingAppender receives the samples of both translation paths (numberTranslator directly,
// Prometheus' OTLP converter through storage.AppenderV2) and encodes each into the open batch of
// its part of the export; full batches go to the shard set at once, so sending overlaps
// translation. One appender serves one export at a time.
type shardingAppender struct {
	opts    appendOptions
	set     *shardSet
	call    *exportCall
	open    []*batch  // the open request of each part of the export
	lanes   []laneSet // the lanes of each part
	enc     seriesEncoder
	numbers *numberTranslator
	// handedOffBytes is the encoded size of the export so far (learnSize).
	handedOffBytes int

	// Hand-off order: batches completed before this export's turn wait in pending.
	ticket  uint64
	myTurn  bool
	pending []pendingBatch

	// Scratch for samples from the converter.
	ls        []promLabel
	exLabels  []promLabel
	exemplars []promExemplar
	sample    sampleArgs
}

var (
	_ storage.AppenderV2 = (*shardingAppender)(nil)
	_ numberSink         = (*shardingAppender)(nil)
)

// begin prepares the appender for an export to set, cut into parts parts, and takes the
// export's place in the set's hand-off order.
func (a *shardingAppender) begin(set *shardSet, call *exportCall, parts int) {
	a.set = set
	a.call = call
	a.setParts(parts)
	a.ticket = set.order.ticket()
	a.myTurn = false
}

// finish waits for the export's turn, hands off what it kept and passes the turn on. It runs
// whatever happened during translation: the next export's turn must come.
func (a *shardingAppender) finish() {
	a.set.order.wait(a.ticket)
	a.myTurn = true
	a.handOffPending()
	a.set.order.done(a.ticket)
}

// release forgets the export, before the appender is reused.
func (a *shardingAppender) release() {
	a.call = nil
	a.set = nil
}

// Append takes a sample from Prometheus' converter.
func (a *shardingAppender) Append(_ storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	a.ls = a.ls[:0]
	ls.Range(func(l labels.Label) { a.ls = append(a.ls, promLabel{name: l.Name, value: l.Value}) })
	a.exemplars, a.exLabels = a.exemplars[:0], a.exLabels[:0]
	for _, ex := range opts.Exemplars {
		start := len(a.exLabels)
		ex.Labels.Range(func(l labels.Label) { a.exLabels = append(a.exLabels, promLabel{name: l.Name, value: l.Value}) })
		ets := ex.Ts
		if !ex.HasTs {
			ets = t
		}
		// Label slices are fixed up below, once exLabels no longer grows.
		a.exemplars = append(a.exemplars, promExemplar{value: ex.Value, ts: ets, labels: a.exLabels[start:len(a.exLabels):len(a.exLabels)]})
	}
	off := 0
	for i := range a.exemplars {
		n := len(a.exemplars[i].labels)
		a.exemplars[i].labels = a.exLabels[off : off+n]
		off += n
	}
	a.sample = sampleArgs{st: st, t: t, v: v, h: h, fh: fh, exemplars: a.exemplars, meta: opts.Metadata}
	return storage.SeriesRef(a.add(a.ls, opts.MetricFamilyName, &a.sample)), nil
}

// appendSample encodes one sample of the series ls into the open batch of its part.
func (a *shardingAppender) appendSample(ls []promLabel, family string, s *sampleArgs) {
	a.add(ls, family, s)
}

// setParts prepares the appender for an export cut into k parts.
func (a *shardingAppender) setParts(k int) {
	a.handedOffBytes = 0
	if len(a.open) == k {
		return
	}
	a.open = make([]*batch, k)
	a.lanes = make([]laneSet, k)
	for p := range k {
		a.lanes[p] = partLanes(k, p)
	}
}

// add is appendSample returning the series' hash. Both translation paths come here, so a series
// always lands in the same lane, the one its encoded label set hashes to, and in the part of the
// export holding that lane.
func (a *shardingAppender) add(ls []promLabel, family string, s *sampleArgs) uint64 {
	encodedLabels := a.enc.encodeLabels(ls)
	hash := maphash.Bytes(a.opts.seed, encodedLabels)
	i := int(hash%numLanes) % len(a.open)
	created := ""
	if a.opts.createdSeries && s.st != 0 && s.h == nil && s.fh == nil && !math.IsNaN(s.v) {
		created = createdSeriesName(getLabel(ls, model.MetricNameLabel), s.meta)
	}
	est := estimate(ls, s.h, s.fh, s.exemplars)
	if created != "" {
		est *= 2
	}
	b := a.open[i]
	if b != nil && !b.empty() && b.size()+est > a.opts.maxBatchBytes {
		a.flush(i)
		b = nil
	}
	if b == nil {
		b = a.set.batches.get()
		a.open[i] = b
	}
	a.enc.encode(b, ls, encodedLabels, s)
	if a.opts.v2 {
		return hash
	}
	if a.opts.sendMetadata {
		b.encodeMetadataV1(family, s.meta)
	}
	if created != "" {
		a.enc.encodeV1(b, a.enc.encodeLabels(a.enc.withName(ls, created)), &sampleArgs{t: s.t, v: float64(s.st) / 1000})
	}
	return hash
}

type pendingBatch struct {
	lanes laneSet
	b     *batch
}

// flush hands the open request of part i to the shard set, or keeps it until this export's turn.
func (a *shardingAppender) flush(i int) {
	b := a.open[i]
	a.open[i] = nil
	if b == nil {
		return
	}
	if b.empty() {
		a.set.batches.put(b)
		return
	}
	a.opts.translated.Add(context.Background(), int64(b.points()))
	a.handedOffBytes += b.size()
	a.call.wg.Add(1)
	if !a.myTurn && a.set.order.turn.Load() == a.ticket {
		a.myTurn = true // the turn stays until this export is done
	}
	if !a.myTurn {
		a.pending = append(a.pending, pendingBatch{lanes: a.lanes[i], b: b})
		return
	}
	a.handOffPending()
	a.set.submit(b, a.lanes[i], a.call)
}

// handOffPending sends the batches kept until this export's turn (which the caller holds).
func (a *shardingAppender) handOffPending() {
	for _, p := range a.pending {
		a.set.submit(p.b, p.lanes, a.call)
	}
	clear(a.pending)
	a.pending = a.pending[:0]
}

func (a *shardingAppender) flushAll() {
	for i := range a.open {
		a.flush(i)
	}
}

func (*shardingAppender) Commit() error   { return nil }
func (*shardingAppender) Rollback() error { return nil }
