package k8sbench

import (
	"fmt"
	"strings"
)

// markdown renders the results as the tables bench/run.sh collects into bench/results.md:
// peer first, ours second, ratio ours/peer.
func markdown(results []result, encodings []encodingResult, fixture string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "k8s tagging fixture: %s (bench/k8s, real kube-apiserver v1.34.4; API traffic counted by a proxy).\n\n", fixture)
	find := func(scenario, name string) (result, bool) {
		for _, r := range results {
			if r.Scenario == scenario && r.Name == name {
				return r, true
			}
		}
		return result{}, false
	}
	ratio := func(ours, peer float64) string {
		if peer == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f×", ours/peer)
	}
	mb := func(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }
	row := func(scenario, figure, peer, ours, r string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", scenario, figure, peer, ours, r)
	}

	var scenarios []string
	for _, r := range results {
		if r.Scenario != "binary" && (len(scenarios) == 0 || scenarios[len(scenarios)-1] != r.Scenario) {
			scenarios = append(scenarios, r.Scenario)
		}
	}
	if len(scenarios) > 0 {
		fmt.Fprintf(&b, "### k8s tagging: k8s_tagging vs contrib k8sattributes v1.0.0, in-process (%d pods/s churn for %d s)\n\n", churnRate(), churnSeconds())
		b.WriteString("| scenario | figure | k8sattributes | k8s_tagging | ratio |\n|---|---|---|---|---|\n")
		for _, s := range scenarios {
			p, ok1 := find(s, "k8sattributes")
			o, ok2 := find(s, "k8s_tagging")
			if !ok1 || !ok2 {
				continue
			}
			row(s, "Go heap in use after sync+churn (MiB)", f1(p.HeapInuseMiB), f1(o.HeapInuseMiB), ratio(o.HeapInuseMiB, p.HeapInuseMiB))
			row(s, "RSS above process baseline (MiB)", f1(p.RSSMiB-p.BaselineRSS), f1(o.RSSMiB-o.BaselineRSS), ratio(o.RSSMiB-o.BaselineRSS, p.RSSMiB-p.BaselineRSS))
			row(s, "API requests at start-up", fmt.Sprint(p.APIRequests), fmt.Sprint(o.APIRequests), ratio(float64(o.APIRequests), float64(p.APIRequests)))
			row(s, "API bytes at start-up", mb(p.APIBytes), mb(o.APIBytes), ratio(float64(o.APIBytes), float64(p.APIBytes)))
			if p.ChurnEvents > 0 {
				row(s, "API requests during churn", fmt.Sprint(p.ChurnRequests), fmt.Sprint(o.ChurnRequests), "")
				row(s, "API bytes during churn", mb(p.ChurnBytes), mb(o.ChurnBytes), ratio(float64(o.ChurnBytes), float64(p.ChurnBytes)))
				pp, op := float64(p.ChurnBytes)/float64(p.ChurnEvents), float64(o.ChurnBytes)/float64(max(o.ChurnEvents, 1))
				row(s, "API bytes per pod write during churn", fmt.Sprintf("%.0f B (%d writes)", pp, p.ChurnEvents), fmt.Sprintf("%.0f B (%d writes)", op, o.ChurnEvents), ratio(op, pp))
			}
			row(s, "start → synced (s)", f2(p.SyncSeconds), f2(o.SyncSeconds), ratio(o.SyncSeconds, p.SyncSeconds))
			row(s, "tagging (ns/resource)", f0(p.NsPerResource), f0(o.NsPerResource), ratio(o.NsPerResource, p.NsPerResource))
		}
		b.WriteString("\n")
	}

	p, ok1 := find("binary", "otelcol-k8sattributes")
	o, ok2 := find("binary", "otelcol-custom")
	if ok1 && ok2 {
		fmt.Fprintf(&b, "### k8s tagging: whole binaries, otelcol-custom (k8s_tagging) vs otelcol-k8sattributes (contrib k8s_attributes, bench/peers), OTLP → processor → OTLP sink\n\n")
		b.WriteString("| figure | otelcol-k8sattributes | otelcol-custom | ratio |\n|---|---|---|---|\n")
		brow := func(figure, peer, ours, r string) { fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", figure, peer, ours, r) }
		brow("start → first fully tagged span at the sink (s)", f2(p.FirstTaggedSeconds), f2(o.FirstTaggedSeconds), ratio(o.FirstTaggedSeconds, p.FirstTaggedSeconds))
		brow("RSS 5 s after the first tagged span (MiB)", f1(p.RSSMiB), f1(o.RSSMiB), ratio(o.RSSMiB, p.RSSMiB))
		brow("  above the same binary without the processor (MiB)", f1(p.RSSMiB-p.BaselineRSS), f1(o.RSSMiB-o.BaselineRSS), ratio(o.RSSMiB-o.BaselineRSS, p.RSSMiB-p.BaselineRSS))
		brow("RSS 10 s after the load (MiB)", f1(p.RSSAfterLoadMiB), f1(o.RSSAfterLoadMiB), ratio(o.RSSAfterLoadMiB, p.RSSAfterLoadMiB))
		brow("  above the same binary without the processor after the same load (MiB)", f1(p.RSSAfterLoadMiB-p.BaselineRSSAfterLoad), f1(o.RSSAfterLoadMiB-o.BaselineRSSAfterLoad), ratio(o.RSSAfterLoadMiB-o.BaselineRSSAfterLoad, p.RSSAfterLoadMiB-p.BaselineRSSAfterLoad))
		brow("Go heap after the load (MiB, collector's own metric)", f1(p.HeapAfterLoadMiB), f1(o.HeapAfterLoadMiB), ratio(o.HeapAfterLoadMiB, p.HeapAfterLoadMiB))
		brow("  above the same binary without the processor after the same load (MiB)", f1(p.HeapAfterLoadMiB-p.BaselineHeapAfterLoad), f1(o.HeapAfterLoadMiB-o.BaselineHeapAfterLoad), ratio(o.HeapAfterLoadMiB-o.BaselineHeapAfterLoad, p.HeapAfterLoadMiB-p.BaselineHeapAfterLoad))
		brow("peak RSS up to sync (MiB)", f1(p.PeakRSSMiB), f1(o.PeakRSSMiB), ratio(o.PeakRSSMiB, p.PeakRSSMiB))
		brow("Go heap 5 s after the first tagged span (MiB, collector's own metric, no GC since sync)", f1(p.GoHeapMiB), f1(o.GoHeapMiB), ratio(o.GoHeapMiB, p.GoHeapMiB))
		brow("API requests / bytes to first tagged span", fmt.Sprintf("%d / %s", p.APIRequests, mb(p.APIBytes)), fmt.Sprintf("%d / %s", o.APIRequests, mb(o.APIBytes)), ratio(float64(o.APIBytes), float64(p.APIBytes)))
		brow("spans/s through the binary (tagged, delivered)", f0(p.SpansPerSecond), f0(o.SpansPerSecond), ratio(o.SpansPerSecond, p.SpansPerSecond))
		brow("collector CPU s per million spans", f2(p.CPUPerMillion), f2(o.CPUPerMillion), ratio(o.CPUPerMillion, p.CPUPerMillion))
		brow("tagged fraction under load", fmt.Sprintf("%.4f", p.Tagged), fmt.Sprintf("%.4f", o.Tagged), "")
		b.WriteString("\n")
	}

	if len(encodings) > 0 {
		b.WriteString("### k8s tagging: one full pod list in each encoding the API server offers\n\n| variant | bytes | note |\n|---|---|---|\n")
		for _, e := range encodings {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", e.Variant, mb(e.Bytes), e.Note)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
