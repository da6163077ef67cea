package k8sbench

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
)

// encodingResult is the size of one full pod list as the API server sends it in one encoding.
type encodingResult struct {
	Variant string `json:"variant"`
	Bytes   int64  `json:"bytes"`
	Note    string `json:"note"`
	// As the proxy saw the response.
	ContentType     string `json:"content_type,omitempty"`
	ContentEncoding string `json:"content_encoding,omitempty"`
}

// measureEncodings lists every pod once per encoding the API server offers (through the counting
// proxy, from the watch cache as both reflectors do with resourceVersion=0) and splits the
// uncompressed protobuf list into the parts neither processor reads. It answers whether any
// client-side choice transfers fewer bytes than the pod list both processors fetch.
func measureEncodings(t *testing.T, c *k8stest.Cluster) []encodingResult {
	proxy := newCountingProxy(t, c)
	base := &rest.Config{Host: "http://" + proxy.addr, QPS: 1000, Burst: 1000,
		ContentConfig: rest.ContentConfig{ContentType: "application/vnd.kubernetes.protobuf"}}
	measure := func(variant, note string, list func() error) encodingResult {
		before, calls := proxy.bytes.Load(), len(proxy.calls())
		require(t, list())
		e := encodingResult{Variant: variant, Bytes: proxy.bytes.Load() - before, Note: note}
		if after := proxy.calls(); len(after) == calls+1 {
			e.ContentType, e.ContentEncoding = after[calls].ContentType, after[calls].ContentEncoding
		} else {
			t.Fatalf("encoding %s: expected one request, the proxy saw %d", variant, len(after)-calls)
		}
		return e
	}
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(base)
	require(t, err)
	// Explicit Accept and Accept-Encoding headers: Go's transport then neither adds gzip nor
	// decompresses, so the proxy counts exactly what the API server sent for that request.
	list := func(accept, encoding string, params map[string]string) func() error {
		return func() error {
			req := cs.CoreV1().RESTClient().Get().Resource("pods").Param("resourceVersion", "0").
				SetHeader("Accept", accept).SetHeader("Accept-Encoding", encoding)
			for k, v := range params {
				req = req.Param(k, v)
			}
			return req.Do(ctx).Error()
		}
	}
	const protobuf = "application/vnd.kubernetes.protobuf"
	out := []encodingResult{
		measure("protobuf + gzip", "what both processors request", list(protobuf, "gzip", nil)),
		measure("protobuf", "no compression", list(protobuf, "identity", nil)),
		measure("JSON + gzip", "", list("application/json", "gzip", nil)),
		measure("JSON", "", list("application/json", "identity", nil)),
		measure("metadata only (PartialObjectMetadata, protobuf) + gzip", "unusable: no pod IPs, container ids, node name, start time",
			list(protobuf+";as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", "gzip", nil)),
		measure("Table (kubectl get columns, JSON) + gzip", "unusable: one IP per pod, no container ids or owners",
			list("application/json;as=Table;v=v1;g=meta.k8s.io", "gzip", map[string]string{"includeObject": "None"})),
	}
	full, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	require(t, err)

	// What the uncompressed protobuf list spends on fields no processor reads but the API server
	// has no option to leave out (list and watch return whole objects).
	total, withoutManaged, withoutAnnotations := 0, 0, 0
	for i := range full.Items {
		p := full.Items[i].DeepCopy()
		total += p.Size()
		p.ManagedFields = nil
		withoutManaged += p.Size()
		p.Annotations = nil
		withoutAnnotations += p.Size()
	}
	out = append(out,
		encodingResult{Variant: "protobuf pod objects, sum", Bytes: int64(total), Note: "uncompressed, as decoded"},
		encodingResult{Variant: "  of which metadata.managedFields", Bytes: int64(total - withoutManaged), Note: "server-side apply bookkeeping; omitted only by kube-apiserver 1.38+ with ManagedFieldsOptOut (k8s_tagging asks for that)"},
		encodingResult{Variant: "  of which metadata.annotations", Bytes: int64(withoutManaged - withoutAnnotations), Note: "the fixture's 600-byte last-applied annotation; not extracted by default"},
	)
	for _, e := range out {
		t.Logf("pod list encoding %-45s %10d B  %s %s  %s", e.Variant, e.Bytes, e.ContentType, e.ContentEncoding, e.Note)
	}
	return out
}
