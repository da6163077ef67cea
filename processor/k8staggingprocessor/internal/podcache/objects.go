package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// Kind is a Kubernetes resource watched metadata-only when a consumer extracts from it.
type Kind string

// Kinds that can be watched metadata-only.
const (
	KindNamespace   Kind = "namespaces"
	KindNode        Kind = "nodes"
	KindReplicaSet  Kind = "replicasets"
	KindDeployment  Kind = "deployments"
	KindStatefulSet Kind = "statefulsets"
	KindDaemonSet   Kind = "daemonsets"
	KindJob         Kind = "jobs"
	KindCronJob     Kind = "cronjobs"
)

var kindGVR = map[Kind]schema.GroupVersionResource{
	KindNamespace:   {Version: "v1", Resource: "namespaces"},
	KindNode:        {Version: "v1", Resource: "nodes"},
	KindReplicaSet:  {Group: "apps", Version: "v1", Resource: "replicasets"},
	KindDeployment:  {Group: "apps", Version: "v1", Resource: "deployments"},
	KindStatefulSet: {Group: "apps", Version: "v1", Resource: "statefulsets"},
	KindDaemonSet:   {Group: "apps", Version: "v1", Resource: "daemonsets"},
	KindJob:         {Group: "batch", Version: "v1", Resource: "jobs"},
	KindCronJob:     {Group: "batch", Version: "v1", Resource: "cronjobs"},
}

// clusterScoped kinds are keyed by name (pods name their namespace and node); workloads by uid
// (pods name their owners by uid in ownerReferences).
func (k Kind) clusterScoped() bool { return k == KindNamespace || k == KindNode }

// Object is the metadata kept for a namespace, node or workload.
type Object struct {
	UID, Name, Namespace string
	Labels, Annotations  map[string]string
	// Owner is the controller owner (a ReplicaSet's Deployment, a Job's CronJob).
	OwnerKind, OwnerName, OwnerUID string
}

// objectStore receives one kind's metadata from its watch (it is the reflector's store) and keeps
// the trimmed objects by key.
type objectStore struct {
	kind  Kind
	needs ObjectNeeds
	firstList

	mu   sync.RWMutex
	byID map[string]*Object // name for namespaces and nodes, uid for workloads
}

func newObjectStore(kind Kind, needs ObjectNeeds) *objectStore {
	return &objectStore{kind: kind, needs: needs, byID: map[string]*Object{}}
}

func (s *objectStore) id(m *metav1.PartialObjectMetadata) string {
	if s.kind.clusterScoped() {
		return m.Name
	}
	return string(m.UID)
}

func (s *objectStore) get(key string) (*Object, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.byID[key]
	return o, ok
}

func (s *objectStore) trim(m *metav1.PartialObjectMetadata) *Object {
	o := &Object{
		UID:         intern(string(m.UID)),
		Name:        intern(m.Name),
		Namespace:   intern(m.Namespace),
		Labels:      s.needs.Labels.filterMap(m.Labels),
		Annotations: s.needs.Annotations.filterMap(m.Annotations),
	}
	for _, ref := range m.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			o.OwnerKind, o.OwnerName, o.OwnerUID = ref.Kind, intern(ref.Name), intern(string(ref.UID))
		}
	}
	return o
}

func asMeta(obj any) (*metav1.PartialObjectMetadata, error) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T in metadata watch", obj)
	}
	return m, nil
}

func (s *objectStore) Add(obj any) error { return s.Update(obj) }
func (s *objectStore) Resync() error     { return nil }
func (s *objectStore) Update(obj any) error {
	m, err := asMeta(obj)
	if err != nil {
		return err
	}
	o := s.trim(m)
	s.mu.Lock()
	s.byID[s.id(m)] = o
	s.mu.Unlock()
	return nil
}

func (s *objectStore) Delete(obj any) error {
	m, err := asMeta(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.byID, s.id(m))
	s.mu.Unlock()
	return nil
}

func (s *objectStore) Replace(list []any, _ string) error {
	fresh := make(map[string]*Object, len(list))
	for _, obj := range list {
		m, err := asMeta(obj)
		if err != nil {
			return err
		}
		fresh[s.id(m)] = s.trim(m)
	}
	s.mu.Lock()
	s.byID = fresh
	s.mu.Unlock()
	s.listed()
	return nil
}

// firstList calls onSynced once, after a store received its first full list (the reflector's
// first Replace).
type firstList struct {
	onSynced func()
	done     bool
}

func (f *firstList) listed() {
	if !f.done {
		f.done = true
		if f.onSynced != nil {
			f.onSynced()
		}
	}
}
