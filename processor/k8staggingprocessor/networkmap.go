package k8staggingprocessor // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"

import (
	"fmt"
	"net/netip"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"
)

// NetworkMapConfig (network_map) turns the eBPF receiver's TCP edges into a map of workloads.
type NetworkMapConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// CIDRs name external peers: the first entry containing the address sets src.cidr/dst.cidr.
	CIDRs []CIDRConfig `mapstructure:"cidrs"`
}

// CIDRConfig names one network.
type CIDRConfig struct {
	CIDR string `mapstructure:"cidr"`
	// Name is the value written; the CIDR itself when empty.
	Name string `mapstructure:"name"`
}

func (n *NetworkMapConfig) validate() []error {
	var errs []error
	for i, c := range n.CIDRs {
		if _, err := netip.ParsePrefix(c.CIDR); err != nil {
			errs = append(errs, fmt.Errorf("network_map.cidrs[%d].cidr %q is not a CIDR (e.g. 10.0.0.0/8): %w", i, c.CIDR, err))
		}
	}
	return errs
}

// Attributes the receiver puts on edge data points (receiver/ebpfreceiver, tcp.edges).
const (
	attrPeerAddress    = string(semconv.NetworkPeerAddressKey)
	attrConnectionSide = "tcp.connection.side" // no semconv key
	sideClient         = "client"
	sideServer         = "server"
)

// end is one side of an edge: the attribute names it is written under. The names are OBI's
// network-metric attributes (src = the connection's client, dst = its server).
type end struct {
	namespace, name, kind, ownerName, ownerKind, node, zone, cidr string
}

func endNamed(x string) end {
	return end{
		namespace: "k8s." + x + ".namespace", name: "k8s." + x + ".name", kind: "k8s." + x + ".type",
		ownerName: "k8s." + x + ".owner.name", ownerKind: "k8s." + x + ".owner.type", node: "k8s." + x + ".node.name",
		zone: x + ".zone", cidr: x + ".cidr",
	}
}

var srcEnd, dstEnd = endNamed("src"), endNamed("dst")

type namedPrefix struct {
	prefix netip.Prefix
	name   string
}

// networkMap adds both ends' namespace, name, type, owner, node and zone to every data point
// that carries an edge (network.peer.address + tcp.connection.side).
type networkMap struct {
	cidrs []namedPrefix
	// agentNode is the agent's node (filter.node), the local end of host processes.
	agentNode string
}

func newNetworkMap(cfg NetworkMapConfig, agentNode string) *networkMap {
	m := &networkMap{agentNode: agentNode}
	for _, c := range cfg.CIDRs {
		p, err := netip.ParsePrefix(c.CIDR)
		if err != nil {
			continue // Validate rejected it
		}
		name := c.Name
		if name == "" {
			name = p.String()
		}
		m.cidrs = append(m.cidrs, namedPrefix{prefix: p.Masked(), name: name})
	}
	return m
}

// endpoint is what is known of one end.
type endpoint struct {
	namespace, name, kind, ownerName, ownerKind, node, zone, cidr string
}

func (e *endpoint) put(m pcommon.Map, names end) {
	for _, kv := range [...][2]string{
		{names.namespace, e.namespace}, {names.name, e.name}, {names.kind, e.kind}, {names.ownerName, e.ownerName},
		{names.ownerKind, e.ownerKind}, {names.node, e.node}, {names.zone, e.zone}, {names.cidr, e.cidr},
	} {
		if kv[1] != "" {
			m.PutStr(kv[0], kv[1])
		}
	}
}

func podEndpoint(c *podcache.Cache, p *podcache.Pod) endpoint {
	kind, name := owner(p)
	return endpoint{namespace: p.Namespace, name: p.Name, kind: string(podcache.PeerPod), ownerName: name, ownerKind: kind,
		node: p.NodeName, zone: c.NodeZone(p.NodeName)}
}

// owner is the pod's workload as OBI names it: the top controller, or the pod itself.
func owner(p *podcache.Pod) (kind, name string) {
	switch {
	case p.DeploymentName != "":
		return "Deployment", p.DeploymentName
	case p.StatefulSetName != "":
		return "StatefulSet", p.StatefulSetName
	case p.DaemonSetName != "":
		return "DaemonSet", p.DaemonSetName
	case p.CronJobName != "":
		return "CronJob", p.CronJobName
	case p.JobName != "":
		return "Job", p.JobName
	case p.ReplicaSetName != "":
		return "ReplicaSet", p.ReplicaSetName
	}
	return "Pod", p.Name
}

func (m *networkMap) peerEndpoint(c *podcache.Cache, ip string) endpoint {
	peer, ok := c.Peer(ip)
	switch {
	case ok && peer.Kind == podcache.PeerPod:
		return podEndpoint(c, peer.Pod)
	case ok && peer.Kind == podcache.PeerService:
		// A ClusterIP is virtual: the backend (and its zone) is chosen per connection by the
		// node's proxy; the server side of the same connection names the backend pod.
		return endpoint{namespace: peer.Namespace, name: peer.Name, kind: string(podcache.PeerService),
			ownerName: peer.Name, ownerKind: string(podcache.PeerService)}
	case ok && peer.Kind == podcache.PeerNode:
		return endpoint{name: peer.Name, kind: string(podcache.PeerNode), node: peer.Name, zone: c.NodeZone(peer.Name)}
	}
	e := endpoint{}
	if a, err := netip.ParseAddr(ip); err == nil {
		for _, p := range m.cidrs {
			if p.prefix.Contains(a.Unmap()) {
				e.cidr = p.name
				break
			}
		}
	}
	return e
}

// tagEdges resolves every edge of md. The local end is the resource's pod (already tagged through
// k8s.pod.uid), or the agent's node for host processes.
func (m *networkMap) tagEdges(c *podcache.Cache, md pmetric.Metrics) {
	peers := map[string]endpoint{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		var local endpoint
		if uid, ok := rm.Resource().Attributes().Get(attrPodUID); ok {
			if p, ok := c.ByUID(uid.Str()); ok {
				local = podEndpoint(c, p)
			}
		}
		if local.kind == "" && m.agentNode != "" {
			local = endpoint{name: m.agentNode, kind: string(podcache.PeerNode), node: m.agentNode, zone: c.NodeZone(m.agentNode)}
		}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				forEachAttributes(ms.At(k), func(attrs pcommon.Map) {
					addr, ok := attrs.Get(attrPeerAddress)
					if !ok {
						return
					}
					side, ok := attrs.Get(attrConnectionSide)
					if !ok {
						return
					}
					peer, seen := peers[addr.Str()]
					if !seen {
						peer = m.peerEndpoint(c, addr.Str())
						peers[addr.Str()] = peer
					}
					switch side.Str() {
					case sideClient:
						local.put(attrs, srcEnd)
						peer.put(attrs, dstEnd)
					case sideServer:
						peer.put(attrs, srcEnd)
						local.put(attrs, dstEnd)
					}
				})
			}
		}
	}
}

// forEachAttributes calls f with the attributes of every data point of m.
func forEachAttributes(m pmetric.Metric, f func(pcommon.Map)) {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		dps := m.Sum().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			f(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			f(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			f(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			f(dps.At(i).Attributes())
		}
	}
}
