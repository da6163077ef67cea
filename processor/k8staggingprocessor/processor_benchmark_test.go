package k8staggingprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/metadata"
)

// BenchmarkTagResources measures the per-resource cost of tagging by pod IP with the default
// extraction over a cache of 10,000 pods (client-go fakes; bench/k8s compares against contrib
// with a real API server).
func BenchmarkTagResources(b *testing.B) {
	const pods = 10000
	objs := make([]runtime.Object, 0, pods)
	ips := make([]string, 0, pods)
	for i := range pods {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)
		ips = append(ips, ip)
		objs = append(objs, newPod(fmt.Sprintf("ns-%d", i%100), fmt.Sprintf("app-%d-x", i), []string{ip},
			withRS(fmt.Sprintf("app-%d", i%1000), "h"+fmt.Sprint(i%1000)), withContainer("app", "registry.example.com/a/b:1.0", fmt.Sprintf("containerd://%064d", i))))
	}
	newFakeClusterB(b, objs...)
	cfg := createDefaultConfig().(*Config)
	cfg.WaitForMetadata, cfg.WaitForMetadataTimeout = true, time.Minute
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Shutdown(context.Background()) }()

	const perBatch = 100
	batches := make([]ptrace.Traces, 64)
	fresh := func() {
		for j := range batches {
			td := ptrace.NewTraces()
			for k := range perBatch {
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("k8s.pod.ip", ips[(j*perBatch+k*7919)%pods])
			}
			batches[j] = td
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(batches) == 0 {
			b.StopTimer()
			fresh()
			b.StartTimer()
		}
		if err := p.ConsumeTraces(context.Background(), batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/resource")
}
