package deploy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the otlp_grpc exporter compresses with gzip
	corev1 "k8s.io/api/core/v1"
)

// traceSink is an OTLP/gRPC trace endpoint standing in for the load-balancing tier.
type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	addr     string
	received chan ptrace.Traces
}

func (s *traceSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	select {
	case s.received <- td:
	default: // the test reads only what it needs
	}
	return ptraceotlp.NewExportResponse(), nil
}

// The agent also sends eBPF metrics; they are accepted and ignored.
type discardMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
}

func (*discardMetrics) Export(context.Context, pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	return pmetricotlp.NewExportResponse(), nil
}

type discardLogs struct {
	plogotlp.UnimplementedGRPCServer
}

func (*discardLogs) Export(context.Context, plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	return plogotlp.NewExportResponse(), nil
}

func startTraceSink(t *testing.T) *traceSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &traceSink{addr: l.Addr().String(), received: make(chan ptrace.Traces, 64)}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, s)
	pmetricotlp.RegisterGRPCServer(srv, &discardMetrics{})
	plogotlp.RegisterGRPCServer(srv, &discardLogs{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return s
}

// checkTagging sends one span over OTLP/HTTP from appIP (the pod's IP) to the agent at agentIP and
// expects it at the sink with the pod's metadata, associated by the connection's source address as
// the agent config's pod_association says.
func checkTagging(t *testing.T, agentIP, appIP string, pod *corev1.Pod, sink *traceSink) bool {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(appIP)}}).DialContext,
	}}
	body := `{"resourceSpans":[{"resource":{},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",` +
		`"spanId":"eee19b7ec3c1b174","name":"probe","kind":1,"startTimeUnixNano":"1000","endTimeUnixNano":"2000"}]}]}]}`
	resp, err := client.Post(fmt.Sprintf("http://%s/v1/traces", net.JoinHostPort(agentIP, "4318")), "application/json", strings.NewReader(body))
	if err != nil {
		t.Errorf("send a span to the agent: %v", err)
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("agent answered HTTP %d", resp.StatusCode)
		return false
	}
	want := map[string]string{
		"k8s.pod.name":        pod.Name,
		"k8s.pod.uid":         string(pod.UID),
		"k8s.namespace.name":  pod.Namespace,
		"k8s.node.name":       pod.Spec.NodeName,
		"k8s.deployment.name": "shop",
		"k8s.replicaset.name": pod.OwnerReferences[0].Name,
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case td := <-sink.received:
			for i := range td.ResourceSpans().Len() {
				attrs := td.ResourceSpans().At(i).Resource().Attributes()
				var wrong []string
				for k, v := range want {
					if got, ok := attrs.Get(k); !ok || got.AsString() != v {
						wrong = append(wrong, fmt.Sprintf("%s=%v (want %s)", k, attrs.AsRaw()[k], v))
					}
				}
				if len(wrong) == 0 {
					t.Logf("span from pod IP %s arrived tagged: %v", appIP, attrs.AsRaw())
					return true
				}
				t.Errorf("span arrived with wrong tags: %s; all: %v", strings.Join(wrong, ", "), attrs.AsRaw())
				return false
			}
		case <-timeout:
			t.Errorf("no span reached the sink within 30 s")
			return false
		}
	}
}
