package prw

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-custom/otelcol-custom/internal/prwload"
)

// TestRequestsPerExport measures how many remote-write requests each exporter sends per export
// when one export carries every series (a scrape or a batch processor's output), at 10, 1k and
// 100k series, both with their defaults (5 shards / 5 parallel requests, 3 MB requests) into the
// sink. At low volume ours must send no more requests than contrib (issue 14). PRW_REQUESTS=1
// runs it (run.sh does); it prints a markdown table.
func TestRequestsPerExport(t *testing.T) {
	if os.Getenv("PRW_REQUESTS") == "" {
		t.Skip("set PRW_REQUESTS=1 (bench/prw/run.sh does) to compare requests per export with contrib")
	}
	const exports = 5
	tgt := startSink(t)
	rows := ""
	perExport := map[string]float64{}
	for _, series := range []int{10, 1_000, 100_000} {
		md := prwload.Gauges(0, series)
		for _, impl := range []string{"contrib", "ours"} {
			// As in BenchmarkExport: contrib's timeout bounds a whole export.
			exp := newExporter(t, impl, tgt.url, map[string]any{"timeout": "2m"})
			base := time.Now().Add(-time.Hour)
			// A first export warms up ours' size prediction; it is not counted.
			for round := range exports + 1 {
				if round == 1 {
					perExport[impl] = float64(tgt.requests())
				}
				setTimestamps(md, pcommon.NewTimestampFromTime(base.Add(time.Duration(round)*time.Second)))
				if err := exp.ConsumeMetrics(context.Background(), md); err != nil {
					t.Fatalf("%s, %d series: %v", impl, series, err)
				}
			}
			perExport[impl] = (float64(tgt.requests()) - perExport[impl]) / exports
			if err := exp.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		rows += fmt.Sprintf("| %d | %.1f | %.1f |\n", series, perExport["contrib"], perExport["ours"])
		if series <= 1_000 && perExport["ours"] > perExport["contrib"] {
			t.Errorf("%d series: ours sends %.1f requests per export, contrib %.1f", series, perExport["ours"], perExport["contrib"])
		}
	}
	fmt.Printf("### requests per export (one export = every series; defaults; into the sink)\n\n| series per export | contrib v0.161.0 | ours |\n|---|---|---|\n%s\n", rows)
}
