package promtest // import "github.com/otelcol-custom/otelcol-custom/internal/promtest"

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Sink is an in-process remote-write receiver that decodes requests (1.0 and 2.0), counts
// samples and checks per-series ordering. A Respond hook can inject failures.
type Sink struct {
	Server *httptest.Server

	// Respond, when set, decides the response of a request before it is decoded: 0 accepts it
	// normally, a status code is written as the response, a negative value means Respond wrote
	// the response itself.
	Respond func(n int64, w http.ResponseWriter) int

	// KeepSeries records every decoded series (for content assertions); off for benchmarks.
	KeepSeries bool
	// SkipOrderCheck turns off the per-series ordering check (benchmarks with many series).
	SkipOrderCheck bool
	// CountOnly walks requests' protobuf structure and counts, without unmarshalling labels:
	// no ordering check, no KeepSeries (the benchmark sink, so that it costs little CPU).
	CountOnly bool

	Requests   atomic.Int64
	Samples    atomic.Int64
	Histograms atomic.Int64
	Exemplars  atomic.Int64
	Errors     atomic.Int64 // undecodable requests

	mu         sync.Mutex
	times      []time.Time
	lastTS     map[uint64]int64
	OutOfOrder int64
	Series     []DecodedSeries
}

// DecodedSeries is one received series with its samples.
type DecodedSeries struct {
	Labels     labels.Labels
	Samples    []prompb.Sample
	Histograms int
	Exemplars  int
	Metadata   string // RW2 type
}

// NewSink starts a sink on 127.0.0.1.
func NewSink() *Sink {
	s := &Sink{lastTS: map[uint64]int64{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// Handler serves remote write on any path (for a sink run as its own process).
func (s *Sink) Handler() http.Handler {
	if s.lastTS == nil {
		s.lastTS = map[uint64]int64{}
	}
	return http.HandlerFunc(s.handle)
}

// URL is the remote-write endpoint of the sink.
func (s *Sink) URL() string { return s.Server.URL + "/api/v1/write" }

// Close stops the sink.
func (s *Sink) Close() { s.Server.Close() }

// RequestTimes returns when each request arrived.
func (s *Sink) RequestTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

func (s *Sink) handle(w http.ResponseWriter, r *http.Request) {
	n := s.Requests.Add(1)
	s.mu.Lock()
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	if s.Respond != nil {
		if code := s.Respond(n, w); code != 0 {
			if code > 0 {
				w.WriteHeader(code)
			}
			return
		}
	}
	bufs := requestBuffers.Get().(*requestBuffer)
	defer requestBuffers.Put(bufs)
	bufs.compressed.Reset()
	if _, err := bufs.compressed.ReadFrom(r.Body); err != nil {
		s.fail(w, err)
		return
	}
	if r.Header.Get("Content-Encoding") != "snappy" {
		s.fail(w, fmt.Errorf("content-encoding %q, want snappy", r.Header.Get("Content-Encoding")))
		return
	}
	raw, err := s2.Decode(bufs.raw[:cap(bufs.raw)], bufs.compressed.Bytes())
	if cap(raw) > cap(bufs.raw) {
		bufs.raw = raw
	}
	if err != nil {
		s.fail(w, fmt.Errorf("snappy: %w", err))
		return
	}
	v2 := strings.Contains(r.Header.Get("Content-Type"), "io.prometheus.write.v2.Request")
	var c counts
	if s.CountOnly {
		c, err = countRequest(raw, v2)
	} else {
		c, err = s.decodeRequest(raw, v2)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	s.Samples.Add(c.samples)
	s.Histograms.Add(c.histograms)
	s.Exemplars.Add(c.exemplars)
	if v2 {
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", strconv.FormatInt(c.samples, 10))
		w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", strconv.FormatInt(c.histograms, 10))
		w.Header().Set("X-Prometheus-Remote-Write-Exemplars-Written", strconv.FormatInt(c.exemplars, 10))
	}
	w.WriteHeader(http.StatusNoContent)
}

// requestBuffer holds a request body and its decompressed form, reused across requests (decoded
// series copy what they keep).
type requestBuffer struct {
	compressed bytes.Buffer
	raw        []byte
}

var requestBuffers = sync.Pool{New: func() any { return new(requestBuffer) }}

type counts struct{ samples, histograms, exemplars int64 }

// receivedSeries is one decoded series of either protocol.
type receivedSeries struct {
	labels       labels.Labels
	samples      []prompb.Sample
	histogramTSs []int64
	exemplars    int
	metadata     string
}

// decodeRequest unmarshals a request completely, checks the order of every series' samples and
// records the series when KeepSeries is set.
func (s *Sink) decodeRequest(raw []byte, v2 bool) (counts, error) {
	var series []receivedSeries
	var b labels.ScratchBuilder
	if v2 {
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			return counts{}, err
		}
		for _, ts := range req.Timeseries {
			ls, err := ts.ToLabels(&b, req.Symbols)
			if err != nil {
				return counts{}, err
			}
			rs := receivedSeries{labels: ls, exemplars: len(ts.Exemplars), metadata: ts.Metadata.Type.String()}
			for _, smp := range ts.Samples {
				rs.samples = append(rs.samples, prompb.Sample{Value: smp.Value, Timestamp: smp.Timestamp})
			}
			for _, hp := range ts.Histograms {
				rs.histogramTSs = append(rs.histogramTSs, hp.Timestamp)
			}
			series = append(series, rs)
		}
	} else {
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			return counts{}, err
		}
		for _, ts := range req.Timeseries {
			rs := receivedSeries{labels: ts.ToLabels(&b, nil), samples: ts.Samples, exemplars: len(ts.Exemplars)}
			for _, hp := range ts.Histograms {
				rs.histogramTSs = append(rs.histogramTSs, hp.Timestamp)
			}
			series = append(series, rs)
		}
	}
	var c counts
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range series {
		c.samples += int64(len(rs.samples))
		c.histograms += int64(len(rs.histogramTSs))
		c.exemplars += int64(rs.exemplars)
		h := rs.labels.Hash()
		for _, smp := range rs.samples {
			s.checkOrder(h, smp.Timestamp)
		}
		for _, ts := range rs.histogramTSs {
			s.checkOrder(h, ts)
		}
		if s.KeepSeries {
			s.Series = append(s.Series, DecodedSeries{Labels: rs.labels, Samples: rs.samples, Histograms: len(rs.histogramTSs), Exemplars: rs.exemplars, Metadata: rs.metadata})
		}
	}
	return c, nil
}

// Field numbers walked by countRequest.
const (
	v1TimeseriesField = 1
	v1SamplesField    = 2
	v1ExemplarsField  = 3
	v1HistogramsField = 4
	v2SymbolsField    = 4
	v2TimeseriesField = 5
	v2LabelRefsField  = 1
	v2SamplesField    = 2
	v2HistogramsField = 3
	v2ExemplarsField  = 4
)

// countRequest walks the protobuf structure of a request down to its series' fields, counting
// samples, histograms and exemplars, and fails on malformed wire data or (2.0) label references
// outside the symbol table, without materializing labels. It keeps the benchmark sink cheap.
func countRequest(raw []byte, v2 bool) (counts, error) {
	var c counts
	symbols := uint64(0)
	tsField, samplesField, histField, exField := protowire.Number(v1TimeseriesField), protowire.Number(v1SamplesField), protowire.Number(v1HistogramsField), protowire.Number(v1ExemplarsField)
	if v2 {
		tsField, samplesField, histField, exField = v2TimeseriesField, v2SamplesField, v2HistogramsField, v2ExemplarsField
		// Symbols precede the series in our encoder but may come anywhere: count them first.
		err := walkFields(raw, func(num protowire.Number, _ []byte) error {
			if num == v2SymbolsField {
				symbols++
			}
			return nil
		})
		if err != nil {
			return c, err
		}
	}
	err := walkFields(raw, func(num protowire.Number, msg []byte) error {
		if num != tsField {
			return nil
		}
		return walkFields(msg, func(num protowire.Number, field []byte) error {
			switch num {
			case samplesField:
				c.samples++
			case histField:
				c.histograms++
			case exField:
				c.exemplars++
			case v2LabelRefsField:
				if !v2 {
					return nil
				}
				for len(field) > 0 {
					ref, n := protowire.ConsumeVarint(field)
					if n < 0 {
						return protowire.ParseError(n)
					}
					if ref >= symbols {
						return fmt.Errorf("label reference %d outside the symbol table (%d symbols)", ref, symbols)
					}
					field = field[n:]
				}
			}
			return nil
		})
	})
	return c, err
}

// walkFields calls f with the number and the payload of every length-delimited field of msg and
// skips other wire types.
func walkFields(msg []byte, f func(protowire.Number, []byte) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, msg)
			if n < 0 {
				return protowire.ParseError(n)
			}
			msg = msg[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if err := f(num, v); err != nil {
			return err
		}
		msg = msg[n:]
	}
	return nil
}

// checkOrder counts a sample older than or equal to the series' previous one (caller holds mu).
func (s *Sink) checkOrder(h uint64, ts int64) {
	if s.SkipOrderCheck {
		return
	}
	if last, ok := s.lastTS[h]; ok && ts <= last {
		s.OutOfOrder++
		return
	}
	s.lastTS[h] = ts
}

func (s *Sink) fail(w http.ResponseWriter, err error) {
	s.Errors.Add(1)
	http.Error(w, err.Error(), http.StatusBadRequest)
}

// Snapshot returns the recorded series and the out-of-order count.
func (s *Sink) Snapshot() ([]DecodedSeries, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DecodedSeries(nil), s.Series...), s.OutOfOrder
}
