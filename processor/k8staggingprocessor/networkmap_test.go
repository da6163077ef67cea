package k8staggingprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func zoneNode(name, zone, ip string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"topology.kubernetes.io/zone": zone}},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}},
	}
}

func onNode(node string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = node } }

func ownedBy(kind, name string) podOpt {
	return func(p *corev1.Pod) {
		ctrl := true
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{Kind: kind, Name: name, UID: types.UID("uid-" + name),
			APIVersion: "apps/v1", Controller: &ctrl})
	}
}

// Each edge gets both ends: the local pod from the resource, the peer by address — a pod on
// another node (the agent watches only its own node's pods for tagging), a Service by ClusterIP,
// a node (never the hostNetwork pod sharing its address), or an external address named by CIDR.
func TestNetworkMapResolvesBothEnds(t *testing.T) {
	newFakeCluster(t,
		newPod("shop", "web-7d9f-abcde", []string{"10.1.0.5"}, withRS("web-7d9f", "7d9f"), onNode("node-1")),
		newPod("data", "db-0", []string{"10.2.0.7", "fd00::7"}, ownedBy("StatefulSet", "db"), onNode("node-2")),
		newPod("kube-system", "proxy-node-2", []string{"192.168.0.2"}, hostNetwork, onNode("node-2")),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"}, Spec: corev1.ServiceSpec{ClusterIPs: []string{"10.96.0.10"}}},
		zoneNode("node-1", "zone-a", "192.168.0.1"), zoneNode("node-2", "zone-b", "192.168.0.2"),
	)
	cfg := testConfig()
	cfg.Filter.Node = "node-1"
	cfg.NetworkMap = NetworkMapConfig{Enabled: true, CIDRs: []CIDRConfig{{CIDR: "8.8.8.0/24", Name: "dns"}, {CIDR: "203.0.113.0/24"}}}
	require.NoError(t, cfg.Validate())
	h := startProcessors(t, cfg)

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("k8s.pod.uid", "uid-shop-web-7d9f-abcde")
	dps := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptySum().DataPoints()
	edges := []struct{ peer, side string }{
		{"10.2.0.7", "client"}, {"fd00::7", "client"}, {"10.96.0.10", "client"}, {"192.168.0.2", "server"},
		{"8.8.8.8", "client"}, {"203.0.113.9", "client"}, {"198.51.100.1", "client"},
	}
	for _, e := range edges {
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("network.peer.address", e.peer)
		dp.Attributes().PutStr("tcp.connection.side", e.side)
	}
	dps.AppendEmpty().Attributes().PutStr("unrelated", "x") // not an edge: untouched
	require.NoError(t, h.mp.ConsumeMetrics(context.Background(), md))
	got := h.metrics.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()

	web := map[string]string{"namespace": "shop", "name": "web-7d9f-abcde", "type": "Pod", "owner.name": "web",
		"owner.type": "Deployment", "node.name": "node-1", "zone": "zone-a"}
	db := map[string]string{"namespace": "data", "name": "db-0", "type": "Pod", "owner.name": "db",
		"owner.type": "StatefulSet", "node.name": "node-2", "zone": "zone-b"}
	want := []struct{ src, dst map[string]string }{
		{web, db},
		{web, db},
		{web, map[string]string{"namespace": "shop", "name": "api", "type": "Service", "owner.name": "api", "owner.type": "Service"}},
		{map[string]string{"name": "node-2", "type": "Node", "node.name": "node-2", "zone": "zone-b"}, web},
		{web, map[string]string{"cidr": "dns"}},
		{web, map[string]string{"cidr": "203.0.113.0/24"}},
		{web, map[string]string{}},
	}
	for i, w := range want {
		attrs := got.At(i).Attributes()
		requireEnd(t, attrs, "src", w.src, edges[i].peer)
		requireEnd(t, attrs, "dst", w.dst, edges[i].peer)
	}
	require.Equal(t, 1, got.At(len(edges)).Attributes().Len())
}

// requireEnd checks the attributes of one end, and that no other attribute of that end is set.
func requireEnd(t *testing.T, attrs pcommon.Map, end string, want map[string]string, peer string) {
	t.Helper()
	for _, field := range []string{"namespace", "name", "type", "owner.name", "owner.type", "node.name", "zone", "cidr"} {
		key := "k8s." + end + "." + field
		if field == "zone" || field == "cidr" {
			key = end + "." + field
		}
		require.Equal(t, want[field], attrString(attrs, key), "peer %s: %s", peer, key)
	}
}
