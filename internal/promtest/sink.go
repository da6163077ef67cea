// Copyright otelcol-custom authors
// SPDX-License-Identifier: Apache-2.0

package promtest // import "github.com/otelcol-custom/otelcol-custom/internal/promtest"

import (
	"fmt"
	"io"
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
	compressed, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, err)
		return
	}
	if r.Header.Get("Content-Encoding") != "snappy" {
		s.fail(w, fmt.Errorf("content-encoding %q, want snappy", r.Header.Get("Content-Encoding")))
		return
	}
	raw, err := s2.Decode(nil, compressed)
	if err != nil {
		s.fail(w, fmt.Errorf("snappy: %w", err))
		return
	}
	if strings.Contains(r.Header.Get("Content-Type"), "io.prometheus.write.v2.Request") {
		s.handleV2(w, raw)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		s.fail(w, err)
		return
	}
	var samples, hists, exs int64
	var b labels.ScratchBuilder
	s.mu.Lock()
	for _, ts := range req.Timeseries {
		samples += int64(len(ts.Samples))
		hists += int64(len(ts.Histograms))
		exs += int64(len(ts.Exemplars))
		ls := ts.ToLabels(&b, nil)
		h := ls.Hash()
		for _, smp := range ts.Samples {
			s.checkOrder(h, smp.Timestamp)
		}
		for _, hp := range ts.Histograms {
			s.checkOrder(h, hp.Timestamp)
		}
		if s.KeepSeries {
			s.Series = append(s.Series, DecodedSeries{Labels: ls, Samples: ts.Samples, Histograms: len(ts.Histograms), Exemplars: len(ts.Exemplars)})
		}
	}
	s.mu.Unlock()
	s.Samples.Add(samples)
	s.Histograms.Add(hists)
	s.Exemplars.Add(exs)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sink) handleV2(w http.ResponseWriter, raw []byte) {
	var req writev2.Request
	if err := req.Unmarshal(raw); err != nil {
		s.fail(w, err)
		return
	}
	var samples, hists, exs int64
	var b labels.ScratchBuilder
	s.mu.Lock()
	for _, ts := range req.Timeseries {
		samples += int64(len(ts.Samples))
		hists += int64(len(ts.Histograms))
		exs += int64(len(ts.Exemplars))
		ls, err := ts.ToLabels(&b, req.Symbols)
		if err != nil {
			s.mu.Unlock()
			s.fail(w, err)
			return
		}
		h := ls.Hash()
		for _, smp := range ts.Samples {
			s.checkOrder(h, smp.Timestamp)
		}
		for _, hp := range ts.Histograms {
			s.checkOrder(h, hp.Timestamp)
		}
		if s.KeepSeries {
			ds := DecodedSeries{Labels: ls, Histograms: len(ts.Histograms), Exemplars: len(ts.Exemplars), Metadata: ts.Metadata.Type.String()}
			for _, smp := range ts.Samples {
				ds.Samples = append(ds.Samples, prompb.Sample{Value: smp.Value, Timestamp: smp.Timestamp})
			}
			s.Series = append(s.Series, ds)
		}
	}
	s.mu.Unlock()
	s.Samples.Add(samples)
	s.Histograms.Add(hists)
	s.Exemplars.Add(exs)
	w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", strconv.FormatInt(samples, 10))
	w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", strconv.FormatInt(hists, 10))
	w.Header().Set("X-Prometheus-Remote-Write-Exemplars-Written", strconv.FormatInt(exs, 10))
	w.WriteHeader(http.StatusNoContent)
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
