package k8staggingprocessor // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"
)

// sourceKind is what an association source identifies.
type sourceKind int

const (
	byIP sourceKind = iota
	byUID
	byContainerID
	byPodName
	byNamespace
	byAttribute // any other attribute, compared to the pod's extracted attributes
)

type assocSource struct {
	from string
	name string
	kind sourceKind
}

type assocRule struct {
	sources []assocSource
	// label is the low-cardinality description used in self-metrics.
	label string
}

// defaultAssociations are used when pod_association is empty: the eBPF receiver's k8s.pod.uid and
// container.id first (exact), then contrib's defaults (k8s.pod.ip, ip, connection, host.name if it
// is an IP), then namespace+name.
func defaultAssociations() []PodAssociationConfig {
	one := func(from, name string) PodAssociationConfig {
		return PodAssociationConfig{Sources: []PodAssociationSourceConfig{{From: from, Name: name}}}
	}
	return []PodAssociationConfig{
		one(sourceResourceAttribute, attrPodUID),
		one(sourceResourceAttribute, attrContainerID),
		one(sourceResourceAttribute, attrPodIP),
		one(sourceResourceAttribute, attrClientIP),
		one(sourceConnection, ""),
		one(sourceResourceAttribute, attrHostName),
		{Sources: []PodAssociationSourceConfig{
			{From: sourceResourceAttribute, Name: attrNamespaceName},
			{From: sourceResourceAttribute, Name: attrPodName},
		}},
	}
}

func classify(src PodAssociationSourceConfig) sourceKind {
	if src.From == sourceConnection {
		return byIP
	}
	switch src.Name {
	case attrPodIP, attrClientIP, attrHostName:
		return byIP
	case attrPodUID:
		return byUID
	case attrContainerID:
		return byContainerID
	case attrPodName:
		return byPodName
	case attrNamespaceName:
		return byNamespace
	default:
		return byAttribute
	}
}

func compileAssociations(cfg []PodAssociationConfig) ([]assocRule, error) {
	if len(cfg) == 0 {
		cfg = defaultAssociations()
	}
	rules := make([]assocRule, 0, len(cfg))
	for i, rc := range cfg {
		r := assocRule{label: associationKey(rc)}
		indexable, hasName, hasNamespace := false, false, false
		for _, s := range rc.Sources {
			k := classify(s)
			r.sources = append(r.sources, assocSource{from: s.From, name: s.Name, kind: k})
			switch k {
			case byIP, byUID, byContainerID:
				indexable = true
			case byPodName:
				hasName = true
			case byNamespace:
				hasNamespace = true
			}
		}
		if !indexable && !(hasName && hasNamespace) {
			return nil, fmt.Errorf("pod_association[%d]: %s cannot identify a pod on its own; include one of k8s.pod.uid, container.id, "+
				"k8s.pod.ip, ip, host.name, a connection source, or both k8s.namespace.name and k8s.pod.name", i, r.label)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// connectionIP returns the peer address of the request that carried the data.
func connectionIP(ctx context.Context) string {
	switch a := client.FromContext(ctx).Addr.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	case *net.IPAddr:
		return a.IP.String()
	case nil:
		return ""
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Addr().String()
		}
		return ""
	}
}

// identified is the outcome of matching a resource against the rules.
type identified struct {
	pod *podcache.Pod
	// rule is the index of the rule whose inputs were present (-1 when none).
	rule int
	// ip is the IP an IP-based source yielded (for k8s.pod.ip in passthrough).
	ip string
}

// sourceValue reads one source's value from the resource or the connection.
func sourceValue(ctx context.Context, s assocSource, attrs pcommon.Map, connIP *string, connRead *bool) string {
	if s.from == sourceConnection {
		if !*connRead {
			*connIP, *connRead = connectionIP(ctx), true
		}
		return *connIP
	}
	v := stringAttr(attrs, s.name)
	if s.kind == byIP && v != "" {
		// host.name (and any IP source) only counts when it holds an address.
		if _, err := netip.ParseAddr(v); err != nil {
			return ""
		}
	}
	return v
}

// identify returns the pod of the first rule whose sources are all present; lookup is nil in
// passthrough mode, where only the IP is wanted.
func identify(ctx context.Context, rules []assocRule, attrs pcommon.Map, lookup *podcache.Cache, ex *extraction) identified {
	var connIP string
	var connRead bool
	var values [maxAssociationSources]string
	for ri, r := range rules {
		complete := true
		for i, s := range r.sources {
			values[i] = sourceValue(ctx, s, attrs, &connIP, &connRead)
			if values[i] == "" {
				complete = false
				break
			}
		}
		if !complete {
			continue
		}
		out := identified{rule: ri}
		for i, s := range r.sources {
			if s.kind == byIP {
				out.ip = values[i]
				break
			}
		}
		if lookup == nil {
			return out
		}
		out.pod = findPod(lookup, r, values[:len(r.sources)], ex)
		return out
	}
	return identified{rule: -1}
}

// findPod looks the pod up through the most selective index and checks the other sources.
func findPod(c *podcache.Cache, r assocRule, values []string, ex *extraction) *podcache.Pod {
	var pod *podcache.Pod
	var ok bool
	primary := -1
	for _, want := range []sourceKind{byUID, byContainerID, byIP} {
		for i, s := range r.sources {
			if s.kind == want {
				primary = i
				break
			}
		}
		if primary >= 0 {
			break
		}
	}
	if primary >= 0 {
		switch r.sources[primary].kind {
		case byUID:
			pod, ok = c.ByUID(values[primary])
		case byContainerID:
			pod, ok = c.ByContainerID(values[primary])
		case byIP:
			pod, ok = c.ByIP(values[primary])
		}
	} else {
		var ns, name string
		for i, s := range r.sources {
			switch s.kind {
			case byNamespace:
				ns = values[i]
			case byPodName:
				name = values[i]
			}
		}
		pod, ok = c.ByName(ns, name)
	}
	if !ok {
		return nil
	}
	for i, s := range r.sources {
		if i != primary && !sourceMatches(c, pod, s, values[i], ex) {
			return nil
		}
	}
	return pod
}

func sourceMatches(c *podcache.Cache, pod *podcache.Pod, s assocSource, v string, ex *extraction) bool {
	switch s.kind {
	case byIP:
		return slices.Contains(pod.IdentifyingIPs(), v)
	case byUID:
		return pod.UID == v
	case byContainerID:
		_, ok := pod.ContainerByID(v)
		return ok
	case byPodName:
		return pod.Name == v
	case byNamespace:
		return pod.Namespace == v
	default:
		// Compare with what this processor would attach for the pod.
		tmp := pcommon.NewMap()
		ex.applyPod(c, pod, tmp)
		got, ok := tmp.Get(s.name)
		return ok && got.AsString() == v
	}
}
