package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Settings select what the cache watches. Two processors with equal Settings share a cache.
type Settings struct {
	// APIKey identifies the API server and credentials (auth type, context, kubeconfig path…).
	APIKey string
	// Namespace restricts the pod watch to one namespace ("" for all).
	Namespace string
	// LabelSelector and FieldSelector are passed to the API server; an agent's node filter is the
	// field selector spec.nodeName=<node>.
	LabelSelector, FieldSelector string
	// NodeName is the agent's node (from the node filter): the node metadata watch is then
	// restricted to that one node.
	NodeName string
	// NodeFromEnvVar names the environment variable that holds the agent's node (filter
	// node_from_env_var). It is read when the cache starts, not when the processor is created, so
	// a config can be validated outside the pod; it then sets NodeName and adds spec.nodeName to
	// FieldSelector.
	NodeFromEnvVar string
	// DeleteGracePeriod keeps deleted pods this long.
	DeleteGracePeriod time.Duration
}

func (s Settings) key() string {
	return fmt.Sprintf("%s|ns=%s|ls=%s|fs=%s|node=%s|nodeenv=%s|grace=%s", s.APIKey, s.Namespace, s.LabelSelector, s.FieldSelector,
		s.NodeName, s.NodeFromEnvVar, s.DeleteGracePeriod)
}

// withNodeFromEnv returns the settings with NodeFromEnvVar resolved into NodeName and the field
// selector. An unset or empty variable is an error: watching every pod of the cluster instead of
// the node's would be a silent and expensive misconfiguration.
func (s Settings) withNodeFromEnv() (Settings, error) {
	if s.NodeFromEnvVar == "" {
		return s, nil
	}
	node, ok := os.LookupEnv(s.NodeFromEnvVar)
	if !ok || node == "" {
		state := "is not set"
		if ok {
			state = "is empty"
		}
		return s, fmt.Errorf("filter.node_from_env_var: environment variable %q %s "+
			"(set it from the downward API: valueFrom.fieldRef.fieldPath: spec.nodeName)", s.NodeFromEnvVar, state)
	}
	s.NodeName = node
	terms := []string{"spec.nodeName=" + node}
	if s.FieldSelector != "" {
		terms = append(terms, s.FieldSelector)
	}
	s.FieldSelector = strings.Join(terms, ",")
	return s, nil
}

// describe is used in logs.
func (s Settings) describe() string {
	var parts []string
	if s.Namespace != "" {
		parts = append(parts, "namespace="+s.Namespace)
	}
	if s.FieldSelector != "" {
		parts = append(parts, "fields="+s.FieldSelector)
	}
	if s.LabelSelector != "" {
		parts = append(parts, "labels="+s.LabelSelector)
	}
	if len(parts) == 0 {
		return "all pods"
	}
	return strings.Join(parts, " ")
}

// Cache holds what one set of watches delivered: the pods and their indexes (the pod lookups
// ByUID, ByIP, ByContainerID, ByName, PodCount and Changed are podIndex's), the metadata-only
// objects and the cluster uid.
type Cache struct {
	settings Settings
	needs    Needs
	clients  Clients
	logger   *zap.Logger

	*podIndex
	objects    map[Kind]*objectStore
	clusterUID atomic.Pointer[string]
	peers      *peerView // nil unless Needs.Peers

	syncGate *syncGate
	failures *watchErrors

	cancel context.CancelFunc
	done   sync.WaitGroup
}

func newCache(settings Settings, needs Needs, clients Clients, logger *zap.Logger) *Cache {
	c := &Cache{
		settings: settings,
		needs:    needs,
		clients:  clients,
		logger:   logger,
		podIndex: newPodIndex(settings.DeleteGracePeriod),
		objects:  map[Kind]*objectStore{},
		syncGate: newSyncGate(),
		failures: newWatchErrors(logger),
	}
	for kind, on := range needs.Objects {
		c.objects[kind] = newObjectStore(kind, on)
	}
	if needs.Peers {
		c.peers = newPeerView(settings, c.podIndex)
	}
	return c
}

// Synced is closed once every watch has delivered its first full list.
func (c *Cache) Synced() <-chan struct{} { return c.syncGate.synced }

// Object returns a namespace, node or workload object by key: name for cluster-scoped kinds,
// uid for workloads.
func (c *Cache) Object(kind Kind, key string) (*Object, bool) {
	s, ok := c.objects[kind]
	if !ok {
		return nil, false
	}
	return s.get(key)
}

// ClusterUID returns the uid of the kube-system namespace once read.
func (c *Cache) ClusterUID() string {
	if p := c.clusterUID.Load(); p != nil {
		return *p
	}
	return ""
}
