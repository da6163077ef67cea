package ebpfreceiver

import (
	"math"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// slotOf mirrors log2_ceil + clamp of bpf/cgroup_stats.h: the slot a value lands in.
func slotOf(v uint64, slots int) int {
	s := 0
	for uint64(1)<<s < v {
		s++
	}
	return min(s, slots-1)
}

// expBucketContains reports whether v lies in the exponential bucket (2^k, 2^(k+1)] at scale 0.
func expBucketContains(k int, v uint64) bool {
	lo, hi := math.Ldexp(1, k), math.Ldexp(1, k+1)
	return float64(v) > lo && float64(v) <= hi
}

func TestExponentialMappingBoundaries(t *testing.T) {
	const slots = 40
	for _, v := range []uint64{1, 2, 3, 4, 5, 7, 8, 9, 1023, 1024, 1025, 1 << 20, 1<<20 + 1, 1 << 38} {
		h := log2Histogram{Slots: make([]uint64, slots)}
		h.Slots[slotOf(v, slots)]++
		dp := pmetric.NewExponentialHistogramDataPoint()
		h.toExponential(dp)
		if dp.Count() != 1 || dp.Positive().BucketCounts().Len() != 1 {
			t.Fatalf("v=%d: count %d, %d buckets", v, dp.Count(), dp.Positive().BucketCounts().Len())
		}
		if k := int(dp.Positive().Offset()); !expBucketContains(k, v) {
			t.Errorf("v=%d went to exponential bucket %d = (%g, %g]", v, k, math.Ldexp(1, k), math.Ldexp(1, k+1))
		}
	}
}

func TestExponentialZeroAndOffsets(t *testing.T) {
	h := log2Histogram{Slots: make([]uint64, 40), Zero: 3, Sum: 2 + 4 + 4 + 100}
	h.Slots[1] = 1 // 2
	h.Slots[2] = 2 // 3..4
	h.Slots[7] = 1 // 65..128
	dp := pmetric.NewExponentialHistogramDataPoint()
	h.toExponential(dp)
	if dp.Scale() != 0 || dp.ZeroCount() != 3 || dp.Count() != 7 || dp.Sum() != 110 {
		t.Fatalf("scale %d zero %d count %d sum %g", dp.Scale(), dp.ZeroCount(), dp.Count(), dp.Sum())
	}
	if dp.Positive().Offset() != 0 {
		t.Fatalf("offset %d, want 0 (slot 1 = (1,2] = index 0)", dp.Positive().Offset())
	}
	want := []uint64{1, 2, 0, 0, 0, 0, 1}
	if got := dp.Positive().BucketCounts().AsRaw(); !slices.Equal(got, want) {
		t.Fatalf("buckets %v, want %v", got, want)
	}
	empty := log2Histogram{Slots: make([]uint64, 40)}
	dp = pmetric.NewExponentialHistogramDataPoint()
	empty.toExponential(dp)
	if dp.Count() != 0 || dp.Positive().BucketCounts().Len() != 0 {
		t.Fatal("empty histogram has data")
	}
}

func TestExplicitMapping(t *testing.T) {
	const slots = 40
	for _, v := range []uint64{0, 1, 2, 3, 4, 5, 8, 9, 1 << 30, 1<<30 + 1} {
		h := log2Histogram{Slots: make([]uint64, slots)}
		if v == 0 {
			h.Zero++
		} else {
			h.Slots[slotOf(v, slots)]++
		}
		dp := pmetric.NewHistogramDataPoint()
		h.toExplicit(dp)
		bounds, counts := dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw()
		if len(counts) != len(bounds)+1 {
			t.Fatalf("%d counts for %d bounds", len(counts), len(bounds))
		}
		// OTel explicit bucket i is (bounds[i-1], bounds[i]].
		for i, c := range counts {
			if c == 0 {
				continue
			}
			lo, hi := math.Inf(-1), math.Inf(1)
			if i > 0 {
				lo = bounds[i-1]
			}
			if i < len(bounds) {
				hi = bounds[i]
			}
			if !(float64(v) > lo && float64(v) <= hi) {
				t.Errorf("v=%d counted in bucket %d = (%g, %g]", v, i, lo, hi)
			}
		}
	}
}
