//go:build soak

package soak

import (
	"math"
	"testing"
	"time"
)

// TestGrowth checks the flatness criterion of TestSoak on made-up series: a single spike does not
// count as growth, a steady climb does.
func TestGrowth(t *testing.T) {
	series := func(values ...float64) []soakSample {
		out := make([]soakSample, len(values))
		for i, v := range values {
			out[i] = soakSample{elapsed: time.Duration(i) * 30 * time.Second, rss: int64(v)}
		}
		return out
	}
	rss := func(s soakSample) float64 { return float64(s.rss) }
	for _, tc := range []struct {
		name      string
		values    []float64
		wantPct   float64
		wantSlope float64 // per hour
	}{
		{"flat", []float64{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}, 0, 0},
		{"one GC spike at the end is not growth", []float64{100, 101, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 180}, 0, -1},
		{"steady climb", []float64{100, 101, 102, 103, 104, 105, 106, 107, 108, 109}, 7.9601990050, 120}, // medians of the first and last fifth: 100.5 → 108.5
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := growth(series(tc.values...), rss)
			if math.Abs(g.pct-tc.wantPct) > 1e-6 {
				t.Errorf("growth %.6f%%, want %.6f%%", g.pct, tc.wantPct)
			}
			if tc.wantSlope >= 0 && math.Abs(g.slopePerHour-tc.wantSlope) > 1e-6 {
				t.Errorf("slope %.6f/h, want %.6f/h", g.slopePerHour, tc.wantSlope)
			}
		})
	}
}
