package k8staggingprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/metadata"
	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"
)

// These tests run the processor against a real etcd + kube-apiserver (internal/k8stest; the
// binaries come from `make prereqs`, and the harness fails with that hint when they are missing).

func realConfig(t *testing.T, c *k8stest.Cluster) *Config {
	t.Setenv("KUBECONFIG", c.KubeconfigPath())
	cfg := createDefaultConfig().(*Config)
	cfg.AuthType = AuthTypeKubeConfig
	cfg.WaitForMetadata = true
	cfg.WaitForMetadataTimeout = 30 * time.Second
	cfg.PodDeleteGracePeriod = time.Minute
	return cfg
}

func eventuallyTagged(t *testing.T, h *harness, ctx context.Context, attrs map[string]any, key, want string) {
	t.Helper()
	var last string
	ok := assert.Eventually(t, func() bool {
		last = attrString(h.sendAll(t, ctx, attrs)[0], key)
		return last == want
	}, 20*time.Second, 50*time.Millisecond)
	if !ok {
		t.Logf("last %s = %q, want %q", key, last, want)
	}
}

func TestRealAPIServer(t *testing.T) {
	c := k8stest.Start(t)
	c.CreateNamespace(t, "shop", map[string]string{"team": "payments"})
	rs := c.CreateReplicaSet(t, "shop", "web")
	web := c.CreatePod(t, k8stest.PodSpec{
		Namespace: "shop", Name: "web-1", NodeName: "node-a", OwnerReplicaSet: rs,
		Labels: map[string]string{"tier": "frontend"}, PodIPs: []string{"10.244.7.5", "fd00:10:244::5"},
		Containers: []k8stest.ContainerSpec{
			{Name: "app", Image: "registry.example.com/shop/web:1.4.2", ContainerID: "containerd://" + hex64("a")},
			{Name: "proxy", Image: "envoyproxy/envoy:v1.31", ContainerID: "containerd://" + hex64("b")},
		},
	})
	jobName := fmt.Sprintf("report-%d", time.Now().Unix()/60)
	c.CreatePod(t, k8stest.PodSpec{Namespace: "shop", Name: jobName + "-x", NodeName: "node-b", OwnerJob: jobName, PodIPs: []string{"10.244.8.9"}})
	c.CreatePod(t, k8stest.PodSpec{Namespace: "kube-system", Name: "node-agent", NodeName: "node-a", HostNetwork: true, PodIPs: []string{"192.168.50.1"}})

	cfg := realConfig(t, c)
	cfg.Extract.Metadata = append(cfg.Extract.Metadata, "k8s.cronjob.name", "k8s.job.name", "k8s.container.name", "k8s.replicaset.name")
	cfg.Extract.Labels = []FieldExtractConfig{{Key: "tier"}, {Key: "team", From: "namespace"}}
	h := startProcessors(t, cfg)

	webUID := string(web.UID)
	t.Run("association sources on every signal", func(t *testing.T) {
		cases := []struct {
			name      string
			ctx       context.Context
			attrs     map[string]any
			container string
		}{
			{"k8s.pod.uid", context.Background(), map[string]any{"k8s.pod.uid": webUID}, ""},
			{"container.id", context.Background(), map[string]any{"container.id": hex64("b")}, "proxy"},
			{"k8s.pod.ip", context.Background(), map[string]any{"k8s.pod.ip": "10.244.7.5"}, ""},
			{"second (IPv6) pod IP", context.Background(), map[string]any{"k8s.pod.ip": "fd00:10:244::5"}, ""},
			{"connection", withConnection("10.244.7.5"), map[string]any{}, ""},
			{"namespace and name", context.Background(), map[string]any{"k8s.namespace.name": "shop", "k8s.pod.name": "web-1"}, ""},
		}
		for _, tc := range cases {
			for i, got := range h.sendAll(t, tc.ctx, tc.attrs) {
				msg := tc.name + "/" + signals[i]
				assert.Equal(t, "web-1", attrString(got, "k8s.pod.name"), msg)
				assert.Equal(t, webUID, attrString(got, "k8s.pod.uid"), msg)
				assert.Equal(t, "shop", attrString(got, "k8s.namespace.name"), msg)
				assert.Equal(t, "node-a", attrString(got, "k8s.node.name"), msg)
				assert.Equal(t, "web", attrString(got, "k8s.deployment.name"), msg)
				assert.Equal(t, rs.Name, attrString(got, "k8s.replicaset.name"), msg)
				assert.Equal(t, "frontend", attrString(got, "k8s.pod.label.tier"), msg)
				assert.Equal(t, "payments", attrString(got, "k8s.namespace.label.team"), msg)
				assert.Equal(t, tc.container, attrString(got, "k8s.container.name"), msg)
			}
		}
	})

	t.Run("cronjob from job name", func(t *testing.T) {
		got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.244.8.9"})[0]
		assert.Equal(t, jobName, attrString(got, "k8s.job.name"))
		assert.Equal(t, "report", attrString(got, "k8s.cronjob.name"))
	})

	t.Run("hostNetwork pod not matched by IP", func(t *testing.T) {
		got := h.sendAll(t, withConnection("192.168.50.1"), map[string]any{})[0]
		assert.Equal(t, "", attrString(got, "k8s.pod.name"))
	})

	t.Run("label change propagates", func(t *testing.T) {
		p, err := c.Client().CoreV1().Pods("shop").Get(context.Background(), "web-1", metav1.GetOptions{})
		require.NoError(t, err)
		p.Labels["tier"] = "edge"
		_, err = c.Client().CoreV1().Pods("shop").Update(context.Background(), p, metav1.UpdateOptions{})
		require.NoError(t, err)
		eventuallyTagged(t, h, context.Background(), map[string]any{"k8s.pod.ip": "10.244.7.5"}, "k8s.pod.label.tier", "edge")
	})

	t.Run("pod IP reuse after delete", func(t *testing.T) {
		c.CreatePod(t, k8stest.PodSpec{Namespace: "shop", Name: "old", NodeName: "node-a", PodIPs: []string{"10.244.9.9"}})
		eventuallyTagged(t, h, context.Background(), map[string]any{"k8s.pod.ip": "10.244.9.9"}, "k8s.pod.name", "old")
		require.NoError(t, c.Client().CoreV1().Pods("shop").Delete(context.Background(), "old", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
		// Within pod_delete_grace_period the deleted pod still tags late data.
		time.Sleep(300 * time.Millisecond)
		assert.Equal(t, "old", attrString(h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.244.9.9"})[0], "k8s.pod.name"))
		c.CreatePod(t, k8stest.PodSpec{Namespace: "shop", Name: "new", NodeName: "node-a", PodIPs: []string{"10.244.9.9"}})
		eventuallyTagged(t, h, context.Background(), map[string]any{"k8s.pod.ip": "10.244.9.9"}, "k8s.pod.name", "new")
	})

	t.Run("hold on miss for a starting pod", func(t *testing.T) {
		holdCfg := *cfg
		holdCfg.HoldOnMiss = HoldOnMissConfig{Timeout: 10 * time.Second, MaxBatches: 8}
		hh := startProcessors(t, &holdCfg)
		done := make(chan string, 1)
		go func() {
			got := hh.sendAll(t, context.Background(), map[string]any{"k8s.namespace.name": "shop", "k8s.pod.name": "starting"})[0]
			done <- attrString(got, "k8s.pod.uid")
		}()
		time.Sleep(300 * time.Millisecond)
		p := c.CreatePod(t, k8stest.PodSpec{Namespace: "shop", Name: "starting", NodeName: "node-a", PodIPs: []string{"10.244.11.1"}})
		select {
		case uid := <-done:
			assert.Equal(t, string(p.UID), uid, "data that arrived before the pod was known is tagged once it is")
		case <-time.After(15 * time.Second):
			t.Fatal("held batch did not complete")
		}
		assert.Equal(t, int64(1), sumMetricWhere(t, hh.tel, "otelcol_k8s_tagging_holds", "outcome", "tagged"))
		assert.Equal(t, 1, podcache.ActiveCaches(), "the second set of processors joined the running cache")
	})

	t.Run("API server restart", func(t *testing.T) {
		c.StopAPIServer(t)
		// Down: tagging continues from the cache.
		for range 3 {
			got := h.sendAll(t, context.Background(), map[string]any{"k8s.pod.uid": webUID})[0]
			assert.Equal(t, "web-1", attrString(got, "k8s.pod.name"))
			time.Sleep(200 * time.Millisecond)
		}
		c.StartAPIServer(t)
		// Back: the watch reconnects and catches up with changes made after the restart.
		c.CreatePod(t, k8stest.PodSpec{Namespace: "shop", Name: "after-restart", NodeName: "node-a", PodIPs: []string{"10.244.10.1"}})
		eventuallyTagged(t, h, context.Background(), map[string]any{"k8s.pod.ip": "10.244.10.1"}, "k8s.pod.name", "after-restart")
		assert.Positive(t, sumMetric(t, h.tel, "otelcol_k8s_tagging_watch_errors"), "the outage is visible in self-metrics")
	})
}

func TestRealAPIServerAgentNodeFilter(t *testing.T) {
	c := k8stest.Start(t)
	c.CreatePod(t, k8stest.PodSpec{Namespace: "default", Name: "mine", NodeName: "node-a", PodIPs: []string{"10.244.1.1"}})
	c.CreatePod(t, k8stest.PodSpec{Namespace: "default", Name: "theirs", NodeName: "node-b", PodIPs: []string{"10.244.2.1"}})
	cfg := realConfig(t, c)
	t.Setenv("K8S_NODE_NAME", "node-a")
	cfg.Filter.NodeFromEnvVar = "K8S_NODE_NAME"
	h := startProcessors(t, cfg)
	assert.Equal(t, "mine", attrString(h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.244.1.1"})[0], "k8s.pod.name"))
	assert.Equal(t, "", attrString(h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.244.2.1"})[0], "k8s.pod.name"),
		"the agent only receives its node's pods (server-side spec.nodeName selector)")
}

func TestRealAPIServerRBAC(t *testing.T) {
	c := k8stest.Start(t)
	c.CreateNamespace(t, "obs", nil)
	c.CreatePod(t, k8stest.PodSpec{Namespace: "default", Name: "p", NodeName: "node-a", PodIPs: []string{"10.244.3.3"}})

	t.Run("get/list/watch on pods is enough for the default config", func(t *testing.T) {
		c.BindClusterRole(t, "obs", "podreader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}})
		cfg := createDefaultConfig().(*Config)
		t.Setenv("KUBECONFIG", c.ServiceAccountKubeconfig(t, "obs", "podreader"))
		cfg.AuthType = AuthTypeKubeConfig
		cfg.WaitForMetadata = true
		cfg.WaitForMetadataTimeout = 30 * time.Second
		h := startProcessors(t, cfg)
		assert.Equal(t, "p", attrString(h.sendAll(t, context.Background(), map[string]any{"k8s.pod.ip": "10.244.3.3"})[0], "k8s.pod.name"))
	})

	startErr := func(t *testing.T, cfg *Config) error {
		p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, new(consumertest.TracesSink))
		require.NoError(t, err)
		err = p.Start(context.Background(), componenttest.NewNopHost())
		require.NoError(t, p.Shutdown(context.Background()))
		assert.Equal(t, 0, podcache.ActiveCaches())
		return err
	}

	t.Run("missing pods permission is named", func(t *testing.T) {
		c.BindClusterRole(t, "obs", "nothing", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}})
		t.Setenv("KUBECONFIG", c.ServiceAccountKubeconfig(t, "obs", "nothing"))
		cfg := createDefaultConfig().(*Config)
		cfg.AuthType = AuthTypeKubeConfig
		cfg.WaitForMetadata = true
		cfg.WaitForMetadataTimeout = 5 * time.Second
		err := startErr(t, cfg)
		require.Error(t, err)
		t.Logf("Start error: %v", err)
		assert.Regexp(t, `forbids "(list|watch)" on "pods"`, err.Error())
		assert.Contains(t, err.Error(), `resources: ["pods"], verbs: ["get", "list", "watch"]`)
	})

	t.Run("missing namespaces permission is named when namespace labels are extracted", func(t *testing.T) {
		t.Setenv("KUBECONFIG", c.ServiceAccountKubeconfig(t, "obs", "podreader"))
		cfg := createDefaultConfig().(*Config)
		cfg.AuthType = AuthTypeKubeConfig
		cfg.WaitForMetadata = true
		cfg.WaitForMetadataTimeout = 5 * time.Second
		cfg.Extract.Labels = []FieldExtractConfig{{Key: "team", From: "namespace"}}
		err := startErr(t, cfg)
		require.Error(t, err)
		assert.Regexp(t, `forbids "(list|watch)" on "namespaces"`, err.Error())
	})
}

// hex64 returns a 64-hex-digit container id made of one repeated digit.
func hex64(digit string) string {
	out := ""
	for range 64 {
		out += digit
	}
	return out
}
