package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// PeerKind says what a network peer's address belongs to.
type PeerKind string

// Peer kinds; the values are the k8s.*.type values of OBI's network metrics.
const (
	PeerPod     PeerKind = "Pod"
	PeerService PeerKind = "Service"
	PeerNode    PeerKind = "Node"
)

// ZoneLabel is the well-known node label holding the node's availability zone.
const ZoneLabel = "topology.kubernetes.io/zone"

// Peer is what the network map knows about an address.
type Peer struct {
	Kind PeerKind
	// Pod is set for PeerPod.
	Pod *Pod
	// Name and Namespace of the Service (PeerService) or the node's name (PeerNode).
	Name, Namespace string
}

// peerView resolves addresses for the network map: pods of the whole cluster by any of their IPs
// (never a hostNetwork pod), Services by ClusterIP, nodes by address, and nodes' zones. An agent
// watches only its node's pods for tagging; its peers are anywhere, so when the consumers'
// selectors restrict the pod watch the view has a second, unfiltered one, trimmed to what a peer
// needs (name, namespace, owners, node, IPs).
type peerView struct {
	pods     *podIndex
	ownPods  bool // pods is not the tagging index: the view watches pods itself
	services *addressStore
	nodes    *addressStore
}

func newPeerView(s Settings, tagging *podIndex) *peerView {
	v := &peerView{pods: tagging, services: newAddressStore(trimService), nodes: newAddressStore(trimNode)}
	if s.Namespace != "" || s.LabelSelector != "" || s.FieldSelector != "" || s.NodeFromEnvVar != "" {
		v.pods, v.ownPods = newPodIndex(s.DeleteGracePeriod), true
	}
	return v
}

// watchPeers starts the view's watches: Services and nodes, and all pods when the tagging watch
// does not cover them.
func (c *Cache) watchPeers(ctx context.Context) {
	v := c.peers
	if v.ownPods {
		c.watchPodsInto(ctx, "peer pods", "", "", "", newPodStore(v.pods, &PodNeeds{}, c.logger, c.syncGate.expect()))
	}
	svc := c.clients.Core.CoreV1().Services("")
	v.services.onSynced = c.syncGate.expect()
	c.run(ctx, "services", plainListWatch(reportingListWatch(c.failures, "", "services", func(*metav1.ListOptions) {},
		svc.List, svc.Watch)), &corev1.Service{}, v.services)
	nodes := c.clients.Core.CoreV1().Nodes()
	v.nodes.onSynced = c.syncGate.expect()
	c.run(ctx, "peer nodes", plainListWatch(reportingListWatch(c.failures, "", "nodes", func(*metav1.ListOptions) {},
		nodes.List, nodes.Watch)), &corev1.Node{}, v.nodes)
}

// Peer resolves a peer address: a pod owning it (any of its podIPs), else a Service with that
// ClusterIP, else a node with that address. ok is false for an address outside the cluster, and
// always without Needs.Peers.
func (c *Cache) Peer(ip string) (Peer, bool) {
	v := c.peers
	if v == nil {
		return Peer{}, false
	}
	if p, ok := v.pods.ByIP(ip); ok {
		return Peer{Kind: PeerPod, Pod: p}, true
	}
	if s, ok := v.services.byAddress(ip); ok {
		return Peer{Kind: PeerService, Name: s.name, Namespace: s.namespace}, true
	}
	if n, ok := v.nodes.byAddress(ip); ok {
		return Peer{Kind: PeerNode, Name: n.name}, true
	}
	return Peer{}, false
}

// NodeZone returns the zone label of a node ("" when unknown or without Needs.Peers).
func (c *Cache) NodeZone(node string) string {
	if c.peers == nil {
		return ""
	}
	if n, ok := c.peers.nodes.byName(node); ok {
		return n.zone
	}
	return ""
}

// addressed is a trimmed Service or node: what the network map reads of it.
type addressed struct {
	name, namespace, zone string
	addresses             []string
}

func trimService(obj any) (*addressed, error) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T in service watch", obj)
	}
	a := &addressed{name: intern(s.Name), namespace: intern(s.Namespace)}
	for _, ip := range s.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			a.addresses = append(a.addresses, intern(ip))
		}
	}
	return a, nil
}

func trimNode(obj any) (*addressed, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T in node watch", obj)
	}
	a := &addressed{name: intern(n.Name), zone: intern(n.Labels[ZoneLabel])}
	for _, addr := range n.Status.Addresses {
		if addr.Type == corev1.NodeInternalIP || addr.Type == corev1.NodeExternalIP {
			a.addresses = append(a.addresses, intern(addr.Address))
		}
	}
	return a, nil
}

// addressStore is the reflector's store for Services or nodes: trimmed objects by namespace/name
// and by address.
type addressStore struct {
	trim func(any) (*addressed, error)
	firstList

	mu     sync.RWMutex
	byKey  map[string]*addressed
	byAddr map[string]*addressed
}

func newAddressStore(trim func(any) (*addressed, error)) *addressStore {
	return &addressStore{trim: trim, byKey: map[string]*addressed{}, byAddr: map[string]*addressed{}}
}

func (s *addressStore) byAddress(ip string) (*addressed, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.byAddr[ip]
	return a, ok
}

func (s *addressStore) byName(name string) (*addressed, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.byKey[name] // nodes are cluster-scoped: the key is the name
	return a, ok
}

func key(a *addressed) string {
	if a.namespace == "" {
		return a.name
	}
	return a.namespace + "/" + a.name
}

// put stores a under the lock; an address moves to the object that claims it last.
func (s *addressStore) put(a *addressed) {
	if old := s.byKey[key(a)]; old != nil {
		s.drop(old)
	}
	s.byKey[key(a)] = a
	for _, ip := range a.addresses {
		s.byAddr[ip] = a
	}
}

func (s *addressStore) drop(a *addressed) {
	delete(s.byKey, key(a))
	for _, ip := range a.addresses {
		if s.byAddr[ip] == a {
			delete(s.byAddr, ip)
		}
	}
}

func (s *addressStore) Add(obj any) error { return s.Update(obj) }
func (s *addressStore) Resync() error     { return nil }

func (s *addressStore) Update(obj any) error {
	a, err := s.trim(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.put(a)
	s.mu.Unlock()
	return nil
}

func (s *addressStore) Delete(obj any) error {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	a, err := s.trim(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if old := s.byKey[key(a)]; old != nil {
		s.drop(old)
	}
	s.mu.Unlock()
	return nil
}

func (s *addressStore) Replace(list []any, _ string) error {
	fresh := newAddressStore(s.trim)
	for _, obj := range list {
		a, err := s.trim(obj)
		if err != nil {
			return err
		}
		fresh.put(a)
	}
	s.mu.Lock()
	s.byKey, s.byAddr = fresh.byKey, fresh.byAddr
	s.mu.Unlock()
	s.listed()
	return nil
}
