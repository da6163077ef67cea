package k8staggingprocessor

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/metadata"
	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"
)

// fakeCluster backs the processor with client-go fakes (unit tests only; the integration tests
// use a real kube-apiserver).
type fakeCluster struct {
	core *fake.Clientset
	meta *metadatafake.FakeMetadataClient
}

func newFakeCluster(t *testing.T, objs ...runtime.Object) *fakeCluster {
	return newFakeClusterB(t, objs...)
}

func newFakeClusterB(t testing.TB, objs ...runtime.Object) *fakeCluster {
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	fc := &fakeCluster{core: fake.NewClientset(objs...), meta: metadatafake.NewSimpleMetadataClient(scheme)}
	prev := clientsFactory
	clientsFactory = func(APIConfig) (podcache.Clients, error) {
		return podcache.Clients{Core: fc.core, Metadata: fc.meta}, nil
	}
	t.Cleanup(func() { clientsFactory = prev })
	return fc
}

// waitWatching waits until the pod watch is open: the fake tracker does not replay events that
// happen between the list and the watch, as a real API server does through resource versions.
func (fc *fakeCluster) waitWatching(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, a := range fc.core.Actions() {
			if a.GetVerb() == "watch" && a.GetResource().Resource == "pods" {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
}

type podOpt func(*corev1.Pod)

func withRS(rsName, hash string) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{Kind: "ReplicaSet", Name: rsName, UID: types.UID("uid-" + rsName), APIVersion: "apps/v1"})
		p.Labels[podTemplateHash] = hash
	}
}

func withContainer(name, image, id string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: name, Image: image})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: name, ContainerID: id, Image: image})
	}
}

func hostNetwork(p *corev1.Pod) { p.Spec.HostNetwork = true }

const podTemplateHash = "pod-template-hash"

func newPod(ns, name string, ips []string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name), Labels: map[string]string{"app": name},
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))},
		Spec: corev1.PodSpec{NodeName: "node-1"},
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	p.Status.Phase = corev1.PodRunning
	for _, o := range opts {
		o(p)
	}
	return p
}

type harness struct {
	traces  *consumertest.TracesSink
	metrics *consumertest.MetricsSink
	logs    *consumertest.LogsSink
	tp      processor.Traces
	mp      processor.Metrics
	lp      processor.Logs
	tel     *componenttest.Telemetry
}

func startProcessors(t *testing.T, cfg *Config) *harness {
	t.Helper()
	h := createProcessors(t, cfg)
	h.start(t)
	return h
}

func (h *harness) start(t *testing.T) {
	t.Helper()
	host := componenttest.NewNopHost()
	require.NoError(t, h.tp.Start(context.Background(), host))
	require.NoError(t, h.mp.Start(context.Background(), host))
	require.NoError(t, h.lp.Start(context.Background(), host))
}

func (h *harness) shutdown(t *testing.T) {
	assert.NoError(t, h.tp.Shutdown(context.Background()))
	assert.NoError(t, h.mp.Shutdown(context.Background()))
	assert.NoError(t, h.lp.Shutdown(context.Background()))
	_ = h.tel.Shutdown(context.Background())
}

// createProcessors creates a traces, a metrics and a logs processor from cfg without starting them.
func createProcessors(t *testing.T, cfg *Config) *harness {
	t.Helper()
	h := &harness{traces: new(consumertest.TracesSink), metrics: new(consumertest.MetricsSink), logs: new(consumertest.LogsSink), tel: componenttest.NewTelemetry()}
	f := NewFactory()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	var err error
	h.tp, err = f.CreateTraces(context.Background(), set, cfg, h.traces)
	require.NoError(t, err)
	h.mp, err = f.CreateMetrics(context.Background(), set, cfg, h.metrics)
	require.NoError(t, err)
	h.lp, err = f.CreateLogs(context.Background(), set, cfg, h.logs)
	require.NoError(t, err)
	// Caches other harnesses hold stay; the ones this harness started must stop with it.
	before := podcache.ActiveCaches()
	t.Cleanup(func() {
		h.shutdown(t)
		assert.Equal(t, before, podcache.ActiveCaches(), "the last shutdown must stop the shared cache")
	})
	return h
}

func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.WaitForMetadata = true
	cfg.WaitForMetadataTimeout = 10 * time.Second
	return cfg
}

// sendAll pushes one resource with attrs through the three processors and returns the
// resulting resource attributes per signal.
func (h *harness) sendAll(t *testing.T, ctx context.Context, attrs map[string]any) []pcommon.Map {
	t.Helper()
	h.traces.Reset()
	h.metrics.Reset()
	h.logs.Reset()
	td := ptrace.NewTraces()
	require.NoError(t, td.ResourceSpans().AppendEmpty().Resource().Attributes().FromRaw(attrs))
	td.ResourceSpans().At(0).ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("s")
	md := pmetric.NewMetrics()
	require.NoError(t, md.ResourceMetrics().AppendEmpty().Resource().Attributes().FromRaw(attrs))
	md.ResourceMetrics().At(0).ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	ld := plog.NewLogs()
	require.NoError(t, ld.ResourceLogs().AppendEmpty().Resource().Attributes().FromRaw(attrs))
	ld.ResourceLogs().At(0).ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("l")
	require.NoError(t, h.tp.ConsumeTraces(ctx, td))
	require.NoError(t, h.mp.ConsumeMetrics(ctx, md))
	require.NoError(t, h.lp.ConsumeLogs(ctx, ld))
	return []pcommon.Map{
		h.traces.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes(),
		h.metrics.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes(),
		h.logs.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes(),
	}
}

func attrString(m pcommon.Map, k string) string {
	v, ok := m.Get(k)
	if !ok {
		return ""
	}
	return v.AsString()
}

func withConnection(ip string) context.Context {
	return client.NewContext(context.Background(), client.Info{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 4317}})
}

func TestTagsEveryAssociationSource(t *testing.T) {
	web := newPod("shop", "web-7d4b9c-x2x", []string{"10.0.0.5", "fd00::5"}, withRS("web-7d4b9c", "7d4b9c"),
		withContainer("app", "registry.example.com:5000/shop/web:1.4.2", "containerd://c0ffee"),
		withContainer("sidecar", "envoy", "containerd://beef"))
	newFakeCluster(t, web)
	h := startProcessors(t, testConfig())

	cases := []struct {
		name  string
		ctx   context.Context
		attrs map[string]any
		image string
	}{
		{name: "k8s.pod.uid (eBPF receiver)", ctx: context.Background(), attrs: map[string]any{"k8s.pod.uid": "uid-shop-web-7d4b9c-x2x"}},
		{name: "container.id (eBPF receiver)", ctx: context.Background(), attrs: map[string]any{"container.id": "c0ffee"}, image: "registry.example.com:5000/shop/web"},
		{name: "container.id with runtime prefix", ctx: context.Background(), attrs: map[string]any{"container.id": "containerd://beef"}, image: "docker.io/library/envoy"},
		{name: "k8s.pod.ip IPv4", ctx: context.Background(), attrs: map[string]any{"k8s.pod.ip": "10.0.0.5"}},
		{name: "k8s.pod.ip IPv6 (second pod IP)", ctx: context.Background(), attrs: map[string]any{"k8s.pod.ip": "fd00::5"}},
		{name: "ip attribute", ctx: context.Background(), attrs: map[string]any{"ip": "10.0.0.5"}},
		{name: "connection", ctx: withConnection("10.0.0.5"), attrs: map[string]any{}},
		{name: "connection IPv6", ctx: withConnection("fd00::5"), attrs: map[string]any{}},
		{name: "host.name holding an IP", ctx: context.Background(), attrs: map[string]any{"host.name": "10.0.0.5"}},
		{name: "namespace and name", ctx: context.Background(), attrs: map[string]any{"k8s.namespace.name": "shop", "k8s.pod.name": "web-7d4b9c-x2x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i, got := range h.sendAll(t, tc.ctx, tc.attrs) {
				sig := signals[i]
				assert.Equal(t, "web-7d4b9c-x2x", attrString(got, "k8s.pod.name"), sig)
				assert.Equal(t, "uid-shop-web-7d4b9c-x2x", attrString(got, "k8s.pod.uid"), sig)
				assert.Equal(t, "shop", attrString(got, "k8s.namespace.name"), sig)
				assert.Equal(t, "node-1", attrString(got, "k8s.node.name"), sig)
				assert.Equal(t, "web", attrString(got, "k8s.deployment.name"), sig)
				assert.Equal(t, "2026-01-02T03:04:05Z", attrString(got, "k8s.pod.start_time"), sig)
				assert.Equal(t, tc.image, attrString(got, "container.image.name"), sig)
			}
		})
	}

	// A resource naming an unknown pod stays untagged and is counted as a miss.
	got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.uid": "nope"})
	assert.Equal(t, "", attrString(got[0], "k8s.pod.name"))
	assert.Positive(t, sumMetric(t, h.tel, "otelcol_k8s_tagging_cache_misses"))
	assert.Positive(t, sumMetric(t, h.tel, "otelcol_k8s_tagging_associations"))
}

func TestContainerAttributes(t *testing.T) {
	pod := newPod("shop", "api", []string{"10.0.0.9"},
		withContainer("app", "ghcr.io/acme/api:2.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker://aaa"))
	pod.Status.ContainerStatuses[0].ImageID = "ghcr.io/acme/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pod.Status.ContainerStatuses[0].RestartCount = 2
	newFakeCluster(t, pod)
	cfg := testConfig()
	cfg.Extract.Metadata = append(cfg.Extract.Metadata, "k8s.container.name", "container.id", "container.image.tag",
		"container.image.repo_digests", "service.name", "service.version", "service.instance.id", "service.namespace", "k8s.pod.ip")
	h := startProcessors(t, cfg)
	got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.9"})[0]
	assert.Equal(t, "app", attrString(got, "k8s.container.name"))
	assert.Equal(t, "aaa", attrString(got, "container.id"))
	assert.Equal(t, "ghcr.io/acme/api", attrString(got, "container.image.name"))
	assert.Equal(t, "2.0", attrString(got, "container.image.tag"))
	assert.Equal(t, `["2.0"]`, attrString(got, "container.image.tags"))
	assert.Equal(t, `["ghcr.io/acme/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]`, attrString(got, "container.image.repo_digests"))
	assert.Equal(t, "api", attrString(got, "service.name"))
	assert.Equal(t, "2.0", attrString(got, "service.version"))
	assert.Equal(t, "shop.api.app", attrString(got, "service.instance.id"))
	assert.Equal(t, "shop", attrString(got, "service.namespace"))
	assert.Equal(t, "10.0.0.9", attrString(got, "k8s.pod.ip"))
}

func TestHostNetworkPodNeverMatchedByIP(t *testing.T) {
	agent := newPod("kube-system", "node-exporter", []string{"192.168.1.10"}, hostNetwork)
	newFakeCluster(t, agent)
	h := startProcessors(t, testConfig())

	got := h.sendAll(t, withConnection("192.168.1.10"), map[string]any{})
	assert.Equal(t, "", attrString(got[0], "k8s.pod.name"), "node IP must not be attributed to a hostNetwork pod")
	got = h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "192.168.1.10"})
	assert.Equal(t, "", attrString(got[0], "k8s.pod.name"))
	got = h.sendAll(t, context.Background(), map[string]any{"k8s.pod.uid": "uid-kube-system-node-exporter"})
	assert.Equal(t, "node-exporter", attrString(got[0], "k8s.pod.name"), "uid association still works")
}

func TestLabelsAnnotationsAndUpdates(t *testing.T) {
	pod := newPod("shop", "cart", []string{"10.0.0.7"})
	pod.Labels["team"] = "payments"
	pod.Labels["app.kubernetes.io/component"] = "backend"
	pod.Annotations = map[string]string{"git-sha": "abc", "resource.opentelemetry.io/deployment.environment": "prod",
		"kubectl.kubernetes.io/last-applied-configuration": "{huge}"}
	fc := newFakeCluster(t, pod)
	cfg := testConfig()
	cfg.Extract.Labels = []FieldExtractConfig{{Key: "team"}, {TagName: "$1", KeyRegex: `app\.kubernetes\.io/(.*)`}}
	cfg.Extract.Annotations = []FieldExtractConfig{{TagName: "sha", Key: "git-sha"}}
	cfg.Extract.OtelAnnotations = true
	h := startProcessors(t, cfg)
	fc.waitWatching(t)

	got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.7"})[0]
	assert.Equal(t, "payments", attrString(got, "k8s.pod.label.team"))
	assert.Equal(t, "backend", attrString(got, "component"))
	assert.Equal(t, "abc", attrString(got, "sha"))
	assert.Equal(t, "prod", attrString(got, "deployment.environment"))
	_, hasApp := got.Get("k8s.pod.label.app")
	assert.False(t, hasApp, "labels that no rule extracts are not added")

	// An existing attribute is never overwritten.
	got = h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.7", "k8s.pod.label.team": "mine"})[0]
	assert.Equal(t, "mine", attrString(got, "k8s.pod.label.team"))

	// Label changes propagate through the watch.
	updated := pod.DeepCopy()
	updated.Labels["team"] = "checkout"
	_, err := fc.core.CoreV1().Pods("shop").Update(context.Background(), updated, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.7"})[0]
		return attrString(got, "k8s.pod.label.team") == "checkout"
	}, 5*time.Second, 20*time.Millisecond)
}

func TestDeleteGracePeriodAndIPReuse(t *testing.T) {
	old := newPod("shop", "old", []string{"10.0.0.20"})
	fc := newFakeCluster(t, old)
	cfg := testConfig()
	cfg.PodDeleteGracePeriod = time.Hour
	h := startProcessors(t, cfg)
	fc.waitWatching(t)

	require.NoError(t, fc.core.CoreV1().Pods("shop").Delete(context.Background(), "old", metav1.DeleteOptions{}))
	// Late data of the deleted pod is still tagged (by uid and by IP while nobody else has it).
	time.Sleep(100 * time.Millisecond)
	got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.20"})[0]
	assert.Equal(t, "old", attrString(got, "k8s.pod.name"))

	// A new pod gets the IP: it wins over the deleted one; the old one stays reachable by uid.
	_, err := fc.core.CoreV1().Pods("shop").Create(context.Background(), newPod("shop", "new", []string{"10.0.0.20"}), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.20"})[0]
		return attrString(got, "k8s.pod.name") == "new"
	}, 5*time.Second, 20*time.Millisecond)
	got = h.sendAll(t, context.Background(), map[string]any{"k8s.pod.uid": "uid-shop-old"})[0]
	assert.Equal(t, "old", attrString(got, "k8s.pod.name"))
}

func TestDeleteWithoutGraceForgetsPod(t *testing.T) {
	fc := newFakeCluster(t, newPod("shop", "gone", []string{"10.0.0.21"}))
	cfg := testConfig()
	cfg.PodDeleteGracePeriod = 0
	h := startProcessors(t, cfg)
	fc.waitWatching(t)
	require.NoError(t, fc.core.CoreV1().Pods("shop").Delete(context.Background(), "gone", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.21"})[0]
		return attrString(got, "k8s.pod.name") == ""
	}, 5*time.Second, 20*time.Millisecond)
}

func TestExcludedPods(t *testing.T) {
	ignored := newPod("obs", "jaeger-agent-abc", []string{"10.0.1.1"})
	annotated := newPod("obs", "quiet", []string{"10.0.1.2"})
	annotated.Annotations = map[string]string{"opentelemetry.io/k8s-processor/ignore": "true"}
	newFakeCluster(t, ignored, annotated)
	h := startProcessors(t, testConfig())
	assert.Equal(t, "", attrString(h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.1.1"})[0], "k8s.pod.name"))
	assert.Equal(t, "", attrString(h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.1.2"})[0], "k8s.pod.name"))
}

func TestPassthroughOnlyAddsPodIP(t *testing.T) {
	prev := clientsFactory
	clientsFactory = func(APIConfig) (podcache.Clients, error) {
		return podcache.Clients{}, errors.New("passthrough must not create API clients")
	}
	t.Cleanup(func() { clientsFactory = prev })
	cfg := createDefaultConfig().(*Config)
	cfg.Passthrough = true
	h := startProcessors(t, cfg)
	for _, got := range h.sendAll(t, withConnection("10.1.2.3"), map[string]any{"service.name": "x"}) {
		assert.Equal(t, "10.1.2.3", attrString(got, "k8s.pod.ip"))
		assert.Equal(t, 2, got.Len(), "only k8s.pod.ip is added")
	}
}

func TestSharedCacheAcrossProcessors(t *testing.T) {
	fc := newFakeCluster(t, newPod("shop", "a", []string{"10.0.0.1"}))
	cfgA := testConfig()
	cfgB := testConfig()
	cfgB.Extract.Labels = []FieldExtractConfig{{Key: "app"}}
	// As in the collector: every component is created before any is started.
	h1 := createProcessors(t, cfgA)
	h2 := createProcessors(t, cfgB)
	h1.start(t)
	h2.start(t)
	assert.Equal(t, 1, podcache.ActiveCaches(), "six processor instances with the same API settings and filters share one cache")
	lists := 0
	for _, a := range fc.core.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "pods" {
			lists++
		}
	}
	assert.Equal(t, 1, lists, "one pod list for all instances")
	// The cache keeps the union of both configurations' fields; each instance adds only what its
	// own configuration extracts.
	for _, got := range h1.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.1"}) {
		assert.Equal(t, "a", attrString(got, "k8s.pod.name"))
		_, hasLabel := got.Get("k8s.pod.label.app")
		assert.False(t, hasLabel, "the first configuration does not extract the label the second one needs")
	}
	for _, got := range h2.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.1"}) {
		assert.Equal(t, "a", attrString(got, "k8s.pod.label.app"))
	}

	// Stopping one set of instances keeps the cache for the others.
	h1.shutdown(t)
	assert.Equal(t, 1, podcache.ActiveCaches())
	assert.Equal(t, "a", attrString(h2.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.1"})[0], "k8s.pod.name"))
}

func TestNamespaceAndNodeMetadataOnlyWhenExtracted(t *testing.T) {
	fc := newFakeCluster(t, newPod("shop", "a", []string{"10.0.0.1"}))
	ns := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: "shop", UID: "ns-uid", Labels: map[string]string{"team": "payments", "other": "x"}}}
	node := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", UID: "node-uid", Labels: map[string]string{"zone": "a"}}}
	_, err := fc.meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).(metadatafake.MetadataClient).CreateFake(ns, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = fc.meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}).(metadatafake.MetadataClient).CreateFake(node, metav1.CreateOptions{})
	require.NoError(t, err)

	cfg := testConfig()
	cfg.Extract.Labels = []FieldExtractConfig{{Key: "team", From: "namespace"}, {Key: "zone", From: "node"}}
	cfg.Extract.Metadata = append(cfg.Extract.Metadata, "k8s.node.uid")
	h := startProcessors(t, cfg)
	got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.1"})[0]
	assert.Equal(t, "payments", attrString(got, "k8s.namespace.label.team"))
	assert.Equal(t, "a", attrString(got, "k8s.node.label.zone"))
	assert.Equal(t, "node-uid", attrString(got, "k8s.node.uid"))
	// Data that names its namespace but no known pod still gets namespace metadata.
	got = h.sendAll(t, context.Background(), map[string]any{"k8s.namespace.name": "shop"})[0]
	assert.Equal(t, "payments", attrString(got, "k8s.namespace.label.team"))

	watched := map[string]bool{}
	for _, a := range fc.meta.Actions() {
		watched[a.GetResource().Resource] = true
	}
	assert.Equal(t, map[string]bool{"namespaces": true, "nodes": true}, watched, "no ReplicaSet/Job watches by default")
}

func TestNoMetadataWatchesByDefault(t *testing.T) {
	fc := newFakeCluster(t, newPod("shop", "a", []string{"10.0.0.1"}, withRS("a-5f", "5f")))
	startProcessors(t, testConfig())
	assert.Empty(t, fc.meta.Actions(), "default config watches pods only")
}

func TestPreciseDeploymentLookup(t *testing.T) {
	fc := newFakeCluster(t, newPod("shop", "web-abc-1", []string{"10.0.0.1"}, withRS("web-abc", "abc")))
	rs := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-abc", UID: "uid-web-abc",
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: "dep-uid", Controller: ptr(true)}}}}
	_, err := fc.meta.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}).Namespace("shop").(metadatafake.MetadataClient).CreateFake(rs, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := testConfig()
	cfg.Extract.Metadata = append(cfg.Extract.Metadata, "k8s.deployment.uid", "k8s.replicaset.name")
	h := startProcessors(t, cfg)
	got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.1"})[0]
	assert.Equal(t, "web", attrString(got, "k8s.deployment.name"))
	assert.Equal(t, "dep-uid", attrString(got, "k8s.deployment.uid"))
	assert.Equal(t, "web-abc", attrString(got, "k8s.replicaset.name"))
}

func ptr[T any](v T) *T { return &v }

func TestForbiddenListIsExplained(t *testing.T) {
	fc := newFakeCluster(t)
	fc.core.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "",
			errors.New(`User "system:serviceaccount:obs:collector" cannot list resource "pods" in API group "" at the cluster scope`))
	})
	cfg := testConfig()
	cfg.WaitForMetadataTimeout = 500 * time.Millisecond
	set := processortest.NewNopSettings(metadata.Type)
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, new(consumertest.TracesSink))
	require.NoError(t, err)
	err = p.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `forbids "list" on "pods"`)
	assert.Contains(t, err.Error(), `resources: ["pods"]`)
	assert.Contains(t, err.Error(), `verbs: ["get", "list", "watch"]`)
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestHoldOnMiss(t *testing.T) {
	fc := newFakeCluster(t)
	cfg := testConfig()
	cfg.HoldOnMiss = HoldOnMissConfig{Timeout: 5 * time.Second, MaxBatches: 4}
	h := startProcessors(t, cfg)
	fc.waitWatching(t)

	var wg sync.WaitGroup
	var got pcommon.Map
	wg.Add(1)
	go func() {
		defer wg.Done()
		got = h.sendAll(t, context.Background(), map[string]any{"k8s.pod.uid": "uid-shop-late"})[0]
	}()
	time.Sleep(200 * time.Millisecond)
	_, err := fc.core.CoreV1().Pods("shop").Create(context.Background(), newPod("shop", "late", []string{"10.0.0.30"}), metav1.CreateOptions{})
	require.NoError(t, err)
	wg.Wait()
	assert.Equal(t, "late", attrString(got, "k8s.pod.name"), "held data is tagged once the pod arrives")
	// The traces batch waited; metrics and logs, sent after it, found the pod right away.
	assert.Equal(t, int64(1), sumMetricWhere(t, h.tel, "otelcol_k8s_tagging_holds", "outcome", "tagged"))
	assert.Equal(t, int64(2), sumMetric(t, h.tel, "otelcol_k8s_tagging_associations"))
}

func TestHoldOnMissTimesOut(t *testing.T) {
	newFakeCluster(t)
	cfg := testConfig()
	cfg.HoldOnMiss = HoldOnMissConfig{Timeout: 100 * time.Millisecond, MaxBatches: 1}
	h := startProcessors(t, cfg)
	start := time.Now()
	got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.uid": "never"})[0]
	assert.Equal(t, "", attrString(got, "k8s.pod.name"))
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	assert.Equal(t, int64(3), sumMetricWhere(t, h.tel, "otelcol_k8s_tagging_holds", "outcome", "timeout"))
}

func sumMetric(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	return sumMetricWhere(t, tel, name, "", "")
}

func sumMetricWhere(t *testing.T, tel *componenttest.Telemetry, name, key, val string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	var total int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			if key != "" {
				if v, ok := dp.Attributes.Value(attribute.Key(key)); !ok || v.AsString() != val {
					continue
				}
			}
			total += dp.Value
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			total += dp.Value
		}
	}
	return total
}

// node_from_env_var is read when the processor starts, not when the configuration is validated
// or the processor is created: `otelcol-custom validate` runs outside the pod, where the
// downward-API variable does not exist. Start still fails clearly without it.
func TestNodeFromEnvVarReadAtStart(t *testing.T) {
	const envVar = "K8S_TAGGING_TEST_NODE"
	cfg := testConfig()
	cfg.Filter.NodeFromEnvVar = envVar
	cfg.Filter.Node = "ignored-when-the-variable-is-named"
	require.NoError(t, cfg.Validate(), "valid without the variable")

	startErr := func(t *testing.T) error {
		t.Helper()
		p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, new(consumertest.TracesSink))
		require.NoError(t, err, "created without the variable (validate creates processors)")
		err = p.Start(context.Background(), componenttest.NewNopHost())
		require.NoError(t, p.Shutdown(context.Background()))
		return err
	}
	t.Run("unset", func(t *testing.T) {
		fc := newFakeCluster(t)
		require.NoError(t, os.Unsetenv(envVar))
		err := startErr(t)
		require.Error(t, err)
		assert.Equal(t, `filter.node_from_env_var: environment variable "K8S_TAGGING_TEST_NODE" is not set `+
			`(set it from the downward API: valueFrom.fieldRef.fieldPath: spec.nodeName)`, err.Error())
		assert.Empty(t, fc.core.Actions(), "nothing is listed or watched without the node")
	})
	t.Run("empty", func(t *testing.T) {
		newFakeCluster(t)
		t.Setenv(envVar, "")
		err := startErr(t)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `environment variable "K8S_TAGGING_TEST_NODE" is empty`)
	})
	t.Run("set after creation", func(t *testing.T) {
		fc := newFakeCluster(t, newPod("shop", "web", []string{"10.0.0.1"}))
		h := createProcessors(t, cfg)
		t.Setenv(envVar, "node-1")
		h.start(t)
		assert.Equal(t, "web", attrString(h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.0.0.1"})[0], "k8s.pod.name"))
		var selectors []string
		for _, a := range fc.core.Actions() {
			if l, ok := a.(k8stesting.ListAction); ok && a.GetResource().Resource == "pods" {
				selectors = append(selectors, l.GetListRestrictions().Fields.String())
			}
			if w, ok := a.(k8stesting.WatchAction); ok && a.GetResource().Resource == "pods" {
				selectors = append(selectors, w.GetWatchRestrictions().Fields.String())
			}
		}
		require.NotEmpty(t, selectors)
		for _, s := range selectors {
			assert.Equal(t, "spec.nodeName=node-1", s, "the variable's value, read at Start, is the server-side node filter")
		}
	})
}
