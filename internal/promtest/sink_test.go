package promtest

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// countRequest (the benchmark sink's walk) counts what a full decode counts, for both protocols,
// and rejects malformed requests.
func TestCountRequestMatchesDecode(t *testing.T) {
	v1 := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: []prompb.Label{{Name: "__name__", Value: "a"}}, Samples: []prompb.Sample{{Value: 1, Timestamp: 1}, {Value: 2, Timestamp: 2}}},
		{Labels: []prompb.Label{{Name: "__name__", Value: "b"}}, Histograms: []prompb.Histogram{{Timestamp: 3}}, Exemplars: []prompb.Exemplar{{Value: 1}}},
	}, Metadata: []prompb.MetricMetadata{{MetricFamilyName: "a", Type: prompb.MetricMetadata_GAUGE}}}
	v2 := writev2.Request{Symbols: []string{"", "__name__", "a", "b"}, Timeseries: []writev2.TimeSeries{
		{LabelsRefs: []uint32{1, 2}, Samples: []writev2.Sample{{Value: 1, Timestamp: 1}}, Exemplars: []writev2.Exemplar{{LabelsRefs: []uint32{1, 3}}}},
		{LabelsRefs: []uint32{1, 3}, Histograms: []writev2.Histogram{{Timestamp: 3}, {Timestamp: 4}}},
	}}
	for name, tc := range map[string]struct {
		marshal func() ([]byte, error)
		v2      bool
	}{"v1": {v1.Marshal, false}, "v2": {v2.Marshal, true}} {
		t.Run(name, func(t *testing.T) {
			raw, err := tc.marshal()
			if err != nil {
				t.Fatal(err)
			}
			s := &Sink{lastTS: map[uint64]int64{}}
			want, err := s.decodeRequest(raw, tc.v2)
			if err != nil {
				t.Fatal(err)
			}
			got, err := countRequest(raw, tc.v2)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || got.samples == 0 || got.histograms == 0 || got.exemplars == 0 {
				t.Fatalf("countRequest %+v, full decode %+v", got, want)
			}
			if _, err := countRequest(raw[:len(raw)-1], tc.v2); err == nil {
				t.Fatal("a truncated request was accepted")
			}
		})
	}
	bad := writev2.Request{Symbols: []string{""}, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{0, 7}, Samples: []writev2.Sample{{Value: 1}}}}}
	raw, _ := bad.Marshal()
	if _, err := countRequest(raw, true); err == nil {
		t.Fatal("a label reference outside the symbol table was accepted")
	}
}
