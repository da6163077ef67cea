package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// log2Histogram is the user-space copy of a BPF struct hist summed over CPUs.
//
// Slot i counts values v with 2^(i-1) < v <= 2^i (slot 0: v == 1); Zero counts
// v == 0. An OpenTelemetry exponential histogram at scale 0 has buckets
// (2^k, 2^(k+1)] for index k, so slot i is exactly bucket index i-1, and an
// explicit-bounds histogram with bounds 1, 2, 4, ... has buckets
// (2^(i-1), 2^i] as well: both conversions are exact.
type log2Histogram struct {
	Slots []uint64
	Zero  uint64
	Sum   uint64
}

func (h *log2Histogram) add(slots []uint64, zero, sum uint64) {
	if h.Slots == nil {
		h.Slots = make([]uint64, len(slots))
	}
	for i, c := range slots {
		h.Slots[i] += c
	}
	h.Zero += zero
	h.Sum += sum
}

func (h *log2Histogram) count() uint64 {
	n := h.Zero
	for _, c := range h.Slots {
		n += c
	}
	return n
}

// toExponential fills dp with the histogram at scale 0.
func (h *log2Histogram) toExponential(dp pmetric.ExponentialHistogramDataPoint) {
	dp.SetScale(0)
	dp.SetCount(h.count())
	dp.SetSum(float64(h.Sum))
	dp.SetZeroCount(h.Zero)
	first, last := -1, -1
	for i, c := range h.Slots {
		if c != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return
	}
	dp.Positive().SetOffset(int32(first) - 1)
	dp.Positive().BucketCounts().FromRaw(h.Slots[first : last+1])
}

// toExplicit fills dp with bounds 2^0 .. 2^(n-2) for n slots; the first bucket
// (-inf, 1] holds zeros and ones, the last (2^(n-2), +inf) holds the last slot.
func (h *log2Histogram) toExplicit(dp pmetric.HistogramDataPoint) {
	n := len(h.Slots)
	bounds := make([]float64, n-1)
	for i := range bounds {
		bounds[i] = math.Ldexp(1, i)
	}
	counts := make([]uint64, n)
	copy(counts, h.Slots)
	counts[0] += h.Zero
	dp.SetCount(h.count())
	dp.SetSum(float64(h.Sum))
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
}
