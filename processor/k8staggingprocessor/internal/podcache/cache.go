package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// Clients are the API clients a cache uses: the typed client for pods, the metadata-only client
// for every other kind.
type Clients struct {
	Core     kubernetes.Interface
	Metadata metadata.Interface
}

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
	// DeleteGracePeriod keeps deleted pods this long.
	DeleteGracePeriod time.Duration
}

func (s Settings) key() string {
	return fmt.Sprintf("%s|ns=%s|ls=%s|fs=%s|node=%s|grace=%s", s.APIKey, s.Namespace, s.LabelSelector, s.FieldSelector, s.NodeName, s.DeleteGracePeriod)
}

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

// ObjectNeeds says which labels and annotations of a kind are kept.
type ObjectNeeds struct {
	Labels, Annotations KeyFilter
}

// Needs is what one consumer reads from the cache.
type Needs struct {
	Pod PodNeeds
	// Objects lists the kinds to watch metadata-only (namespaces, nodes, workloads).
	Objects map[Kind]ObjectNeeds
	// ClusterUID asks for the uid of the kube-system namespace.
	ClusterUID bool
}

func (n *Needs) merge(o Needs) {
	n.Pod.merge(o.Pod)
	if n.Objects == nil {
		n.Objects = map[Kind]ObjectNeeds{}
	}
	for k, v := range o.Objects {
		cur := n.Objects[k]
		cur.Labels = cloneFilter(cur.Labels)
		cur.Annotations = cloneFilter(cur.Annotations)
		cur.Labels.merge(v.Labels)
		cur.Annotations.merge(v.Annotations)
		n.Objects[k] = cur
	}
	n.ClusterUID = n.ClusterUID || o.ClusterUID
}

func (n *Needs) covers(o Needs) bool {
	if !n.Pod.covers(o.Pod) || (o.ClusterUID && !n.ClusterUID) {
		return false
	}
	for k, v := range o.Objects {
		cur, ok := n.Objects[k]
		if !ok {
			return false
		}
		merged := ObjectNeeds{Labels: cloneFilter(cur.Labels), Annotations: cloneFilter(cur.Annotations)}
		merged.Labels.merge(v.Labels)
		merged.Annotations.merge(v.Annotations)
		if merged.Labels.signature() != cur.Labels.signature() || merged.Annotations.signature() != cur.Annotations.signature() {
			return false
		}
	}
	return true
}

// Cache holds the pods of one watch and their indexes.
type Cache struct {
	settings Settings
	needs    Needs
	clients  Clients
	logger   *zap.Logger

	mu          sync.RWMutex
	byUID       map[string]*Pod
	byName      map[string]*Pod // namespace/name
	byIP        map[string]*Pod
	byContainer map[string]*Pod
	changed     chan struct{}

	objects map[Kind]*objectStore

	clusterUID atomic.Pointer[string]

	// pendingSync counts the watches (and lookups) that have not delivered their first full
	// state; synced is closed when it reaches zero.
	pendingSync atomic.Int32
	synced      chan struct{}
	lastErr     atomic.Pointer[error]
	errCount    atomic.Int64
	logMu       sync.Mutex
	lastLogged  string
	lastLogTime time.Time

	listenersMu sync.Mutex
	listeners   map[int]func(error)
	nextID      int

	cancel  context.CancelFunc
	done    sync.WaitGroup
	started time.Time
}

func newCache(settings Settings, needs Needs, clients Clients, logger *zap.Logger) *Cache {
	c := &Cache{
		settings:    settings,
		needs:       needs,
		clients:     clients,
		logger:      logger,
		byUID:       map[string]*Pod{},
		byName:      map[string]*Pod{},
		byIP:        map[string]*Pod{},
		byContainer: map[string]*Pod{},
		changed:     make(chan struct{}),
		objects:     map[Kind]*objectStore{},
		synced:      make(chan struct{}),
		listeners:   map[int]func(error){},
	}
	for kind, on := range needs.Objects {
		c.objects[kind] = newObjectStore(kind, on)
	}
	return c
}

// start begins the watches; they run until stop.
func (c *Cache) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.started = time.Now()

	c.pendingSync.Add(1)
	for range c.objects {
		c.pendingSync.Add(1)
	}
	if c.needs.ClusterUID {
		c.pendingSync.Add(1)
	}
	podLW := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			c.applySelectors(&opts)
			l, err := c.clients.Core.CoreV1().Pods(c.settings.Namespace).List(ctx, opts)
			return l, c.failed(err, "list", "", "pods")
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			c.applySelectors(&opts)
			w, err := c.clients.Core.CoreV1().Pods(c.settings.Namespace).Watch(ctx, opts)
			return w, c.failed(err, "watch", "", "pods")
		},
	}
	// Pods, the large list, stream (WatchList) when the API server and the client support it: the
	// reflector then trims each pod as it arrives (podStore.Transformer) instead of decoding the
	// whole list first, which bounds the memory peak of the initial sync.
	var pods cache.ListerWatcher = podLW
	if watchlist.DoesClientNotSupportWatchListSemantics(c.clients.Core) {
		pods = plainListWatch(podLW) // client-go fakes
	}
	c.run(ctx, "pods", pods, &corev1.Pod{}, &podStore{c: c, once: c.syncDone})

	for kind, store := range c.objects {
		gvr := kindGVR[kind]
		var res metadata.ResourceInterface = c.clients.Metadata.Resource(gvr)
		if c.settings.Namespace != "" && !store.clusterScoped() {
			// Workloads of a namespace-restricted cache: a namespaced Role is enough.
			res = c.clients.Metadata.Resource(gvr).Namespace(c.settings.Namespace)
		}
		fieldSel := ""
		if kind == KindNode && c.settings.NodeName != "" {
			// An agent only needs its own node.
			fieldSel = "metadata.name=" + c.settings.NodeName
		}
		store.onSynced = c.syncDone
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				opts.FieldSelector = fieldSel
				l, err := res.List(ctx, opts)
				return l, c.failed(err, "list", gvr.Group, gvr.Resource)
			},
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				opts.FieldSelector = fieldSel
				w, err := res.Watch(ctx, opts)
				return w, c.failed(err, "watch", gvr.Group, gvr.Resource)
			},
		}
		c.run(ctx, string(kind), plainListWatch(lw), &metav1.PartialObjectMetadata{}, store)
	}
	if c.needs.ClusterUID {
		c.done.Add(1)
		go c.fetchClusterUID(ctx)
	}
}

func (c *Cache) syncDone() {
	if c.pendingSync.Add(-1) == 0 {
		close(c.synced)
	}
}

// plainListWatch makes the reflector start with a plain list at resourceVersion 0 (served in one
// response from the API server's watch cache) instead of a streaming WatchList. Workloads,
// namespaces and nodes use it: they come as small PartialObjectMetadata, and measured in bench/k8s
// the plain list synced faster for the same bytes. Pods use it only with client-go fakes, which
// cannot stream lists.
func plainListWatch(lw *cache.ListWatch) cache.ListerWatcher {
	return listWatch{ListWatch: lw}
}

type listWatch struct {
	*cache.ListWatch
}

// IsWatchListSemanticsUnSupported is consulted by the reflector.
func (listWatch) IsWatchListSemanticsUnSupported() bool { return true }

func (c *Cache) applySelectors(opts *metav1.ListOptions) {
	opts.LabelSelector = c.settings.LabelSelector
	opts.FieldSelector = c.settings.FieldSelector
}

// run keeps one reflector alive: it lists, watches, and on failure retries with backoff while the
// cache keeps serving what it has (the API server being down must not stop tagging).
func (c *Cache) run(ctx context.Context, name string, lw cache.ListerWatcher, expected runtime.Object, store cache.ReflectorStore) {
	r := cache.NewReflectorWithOptions(lw, expected, store, cache.ReflectorOptions{Name: "k8s_tagging/" + name})
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		const minBackoff, maxBackoff = 200 * time.Millisecond, 10 * time.Second
		backoff := minBackoff
		for ctx.Err() == nil {
			began := time.Now()
			err := r.ListAndWatchWithContext(ctx)
			if ctx.Err() != nil {
				return
			}
			var seen *reportedError
			if err != nil && !errors.As(err, &seen) {
				c.reportError(fmt.Errorf("watching %s: %w", name, err))
			}
			if time.Since(began) > time.Minute {
				backoff = minBackoff
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
		}
	}()
}

func (c *Cache) fetchClusterUID(ctx context.Context) {
	defer c.done.Done()
	for backoff := time.Second; ctx.Err() == nil; backoff = min(backoff*2, time.Minute) {
		ns, err := c.clients.Core.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
		if err == nil {
			uid := string(ns.UID)
			c.clusterUID.Store(&uid)
			c.syncDone()
			return
		}
		if ctx.Err() == nil {
			c.reportError(fmt.Errorf("reading cluster uid: %w", c.explain(err, "get", "", "namespaces")))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// stop ends the watches and pending timers.
func (c *Cache) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.done.Wait()
}

// ForbiddenError explains a missing RBAC permission and how to grant it.
type ForbiddenError struct {
	Verb, Group, Resource string
	Err                   error
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("the Kubernetes API server forbids %q on %q (API group %q): add to the collector's ClusterRole the rule "+
		"{apiGroups: [%q], resources: [%q], verbs: [\"get\", \"list\", \"watch\"]} and bind it to the collector's service account "+
		"(server said: %v)", e.Verb, e.Resource, e.Group, e.Group, e.Resource, e.Err)
}

func (e *ForbiddenError) Unwrap() error { return e.Err }

// reportedError marks an error already counted and logged where it happened.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// failed reports a list or watch failure as it happens (the reflector retries some of them, such
// as a refused connection while the API server is down, without returning them) and marks it
// reported. Cancellation at shutdown is not a failure.
func (c *Cache) failed(err error, verb, group, resource string) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	err = c.explain(err, verb, group, resource)
	c.reportError(fmt.Errorf("%s %s: %w", verb, resource, err))
	return &reportedError{err: err}
}

func (c *Cache) explain(err error, verb, group, resource string) error {
	if err == nil {
		return nil
	}
	var status interface{ Status() metav1.Status }
	if errors.As(err, &status) && status.Status().Reason == metav1.StatusReasonForbidden {
		return &ForbiddenError{Verb: verb, Group: group, Resource: resource, Err: err}
	}
	return err
}

func (c *Cache) reportError(err error) {
	c.errCount.Add(1)
	c.lastErr.Store(&err)
	if c.shouldLog(err) {
		var forbidden *ForbiddenError
		if errors.As(err, &forbidden) {
			c.logger.Error("k8s_tagging cannot read Kubernetes metadata; data stays untagged until the permission is granted", zap.Error(err))
		} else {
			c.logger.Warn("k8s_tagging watch failed; tagging continues from the cache and the watch is retried", zap.Error(err))
		}
	}
	c.listenersMu.Lock()
	for _, l := range c.listeners {
		l(err)
	}
	c.listenersMu.Unlock()
}

// shouldLog limits logging to one line per distinct error per 30 s: while the API server is down
// the reflector retries every second or so.
func (c *Cache) shouldLog(err error) bool {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	msg := err.Error()
	if msg == c.lastLogged && time.Since(c.lastLogTime) < 30*time.Second {
		return false
	}
	c.lastLogged, c.lastLogTime = msg, time.Now()
	return true
}

// LastError returns the most recent watch error, nil if none.
func (c *Cache) LastError() error {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *Cache) addErrorListener(f func(error)) int {
	c.listenersMu.Lock()
	defer c.listenersMu.Unlock()
	c.nextID++
	c.listeners[c.nextID] = f
	return c.nextID
}

func (c *Cache) removeErrorListener(id int) {
	c.listenersMu.Lock()
	defer c.listenersMu.Unlock()
	delete(c.listeners, id)
}

// Synced is closed once every watch has delivered its first full list.
func (c *Cache) Synced() <-chan struct{} { return c.synced }

// Changed returns a channel closed at the next pod addition or update.
func (c *Cache) Changed() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.changed
}

// PodCount is the number of pods held (live and within the delete grace period).
func (c *Cache) PodCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byUID)
}

// ByUID, ByIP, ByContainerID and ByName look a pod up.
func (c *Cache) ByUID(uid string) (*Pod, bool) { return c.lookup(c.byUID, uid) }

// ByIP returns the pod that owns ip; hostNetwork pods are never returned (they share the node's IP).
func (c *Cache) ByIP(ip string) (*Pod, bool) { return c.lookup(c.byIP, ip) }

// ByContainerID accepts ids with or without a runtime prefix.
func (c *Cache) ByContainerID(id string) (*Pod, bool) {
	return c.lookup(c.byContainer, stripRuntimePrefix(id))
}

// ByName looks a pod up by namespace and name.
func (c *Cache) ByName(namespace, name string) (*Pod, bool) {
	return c.lookup(c.byName, namespace+"/"+name)
}

func (c *Cache) lookup(m map[string]*Pod, k string) (*Pod, bool) {
	c.mu.RLock()
	p, ok := m[k]
	c.mu.RUnlock()
	return p, ok
}

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

// upsert stores p (a new or updated pod) and re-points its index entries.
func (c *Cache) upsert(p *Pod) {
	c.mu.Lock()
	old := c.byUID[p.UID]
	c.unindex(old)
	c.index(p, true)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// markDeleted keeps a deleted pod for the grace period, without letting it take an IP or name
// that a live pod already holds.
func (c *Cache) markDeleted(uid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.byUID[uid]
	if old == nil || !old.DeletedAt.IsZero() {
		return
	}
	c.unindex(old)
	if c.settings.DeleteGracePeriod <= 0 {
		return
	}
	gone := *old
	gone.DeletedAt = time.Now()
	c.index(&gone, false)
	time.AfterFunc(c.settings.DeleteGracePeriod, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.byUID[uid] == &gone {
			c.unindex(&gone)
		}
	})
}

// index adds p's entries. claim says whether p may take over keys held by another pod: a live
// pod takes an IP from a deleted or terminated one (IP reuse), never the other way round.
func (c *Cache) index(p *Pod, claim bool) {
	put := func(m map[string]*Pod, k string) {
		if k == "" {
			return
		}
		if holder, ok := m[k]; ok && holder != p && !(claim && mayTake(p, holder)) {
			return
		}
		m[k] = p
	}
	c.byUID[p.UID] = p
	put(c.byName, p.Namespace+"/"+p.Name)
	for _, ip := range p.IdentifyingIPs() {
		put(c.byIP, ip)
	}
	for i := range p.Containers {
		put(c.byContainer, p.Containers[i].ID)
		put(c.byContainer, p.Containers[i].PreviousID)
	}
}

func mayTake(p, holder *Pod) bool {
	switch {
	case !holder.DeletedAt.IsZero():
		return true
	case holder.Terminated && !p.Terminated:
		return true
	case !holder.Terminated && p.Terminated:
		return false
	default:
		return true
	}
}

// unindex removes the entries that still point at p.
func (c *Cache) unindex(p *Pod) {
	if p == nil {
		return
	}
	drop := func(m map[string]*Pod, k string) {
		if m[k] == p {
			delete(m, k)
		}
	}
	drop(c.byUID, p.UID)
	drop(c.byName, p.Namespace+"/"+p.Name)
	for _, ip := range p.IPs {
		drop(c.byIP, ip)
	}
	for i := range p.Containers {
		drop(c.byContainer, p.Containers[i].ID)
		drop(c.byContainer, p.Containers[i].PreviousID)
	}
}

// podStore receives the reflector's pods, trims them and hands them to the cache; the full
// objects are dropped right away, so only the trimmed form is ever retained.
type podStore struct {
	c      *Cache
	once   func()
	synced bool
}

// trimmedPod is a pod the reflector already trimmed while streaming the initial list
// (Transformer); it carries the namespace and name its temporary store keys on.
type trimmedPod struct {
	meta metav1.ObjectMeta
	pod  *Pod
}

func (t *trimmedPod) GetObjectMeta() metav1.Object { return &t.meta }

// Transformer makes the reflector trim pods of a streamed initial list as they arrive: it keeps
// them in a temporary store until the list is complete, and would otherwise hold every full pod.
func (s *podStore) Transformer() cache.TransformFunc {
	return func(obj any) (any, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return obj, nil
		}
		return &trimmedPod{
			meta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			pod:  trimPod(pod, &s.c.needs.Pod),
		}, nil
	}
}

// podOf returns the trimmed form of a pod from the reflector, full or already trimmed.
func (s *podStore) podOf(obj any) (*Pod, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return trimPod(o, &s.c.needs.Pod), nil
	case *trimmedPod:
		return o.pod, nil
	}
	return nil, fmt.Errorf("unexpected object %T in pod watch", obj)
}

func (s *podStore) Add(obj any) error { return s.Update(obj) }
func (s *podStore) Resync() error     { return nil }
func (s *podStore) Update(obj any) error {
	pod, err := s.podOf(obj)
	if err != nil {
		return err
	}
	s.c.upsert(pod)
	return nil
}

func (s *podStore) Delete(obj any) error {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, err := s.podOf(obj)
	if err != nil {
		return err
	}
	s.c.markDeleted(pod.UID)
	return nil
}

// Replace is a full relist (start, or catching up after the watch could not resume): pods that
// are gone are treated as deleted.
func (s *podStore) Replace(list []any, _ string) error {
	seen := make(map[string]struct{}, len(list))
	for _, obj := range list {
		pod, err := s.podOf(obj)
		if err != nil {
			return err
		}
		seen[pod.UID] = struct{}{}
		s.c.upsert(pod)
	}
	s.c.mu.RLock()
	var gone []string
	for uid, p := range s.c.byUID {
		if _, ok := seen[uid]; !ok && p.DeletedAt.IsZero() {
			gone = append(gone, uid)
		}
	}
	s.c.mu.RUnlock()
	for _, uid := range gone {
		s.c.markDeleted(uid)
	}
	if !s.synced {
		s.synced = true
		s.c.logger.Info("k8s_tagging pod cache synced", zap.Int("pods", len(list)),
			zap.String("initial_list", initialListKind(list)), zap.Duration("after", time.Since(s.c.started)))
		s.once()
	}
	return nil
}

// initialListKind tells how the first pod list arrived: "streamed" (WatchList, trimmed on
// arrival), "list" (one list response) or "empty".
func initialListKind(list []any) string {
	if len(list) == 0 {
		return "empty"
	}
	if _, ok := list[0].(*trimmedPod); ok {
		return "streamed"
	}
	return "list"
}

// Object is the metadata kept for a namespace, node or workload.
type Object struct {
	UID, Name, Namespace string
	Labels, Annotations  map[string]string
	// Owner is the controller owner (a ReplicaSet's Deployment, a Job's CronJob).
	OwnerKind, OwnerName, OwnerUID string
}

type objectStore struct {
	kind     Kind
	needs    ObjectNeeds
	onSynced func()
	synced   bool

	mu   sync.RWMutex
	byID map[string]*Object // name for namespaces and nodes, uid for workloads
}

func newObjectStore(kind Kind, needs ObjectNeeds) *objectStore {
	return &objectStore{kind: kind, needs: needs, byID: map[string]*Object{}}
}

func (s *objectStore) clusterScoped() bool { return s.kind == KindNamespace || s.kind == KindNode }

func (s *objectStore) id(m *metav1.PartialObjectMetadata) string {
	if s.clusterScoped() {
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
	if !s.synced {
		s.synced = true
		if s.onSynced != nil {
			s.onSynced()
		}
	}
	return nil
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
