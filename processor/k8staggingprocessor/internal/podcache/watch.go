package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

// start begins the watches; they run until stop.
func (c *Cache) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel

	c.watchPods(ctx)
	for kind, store := range c.objects {
		c.watchObjects(ctx, kind, store)
	}
	if c.needs.Peers {
		c.watchPeers(ctx)
	}
	if c.needs.ClusterUID {
		synced := c.syncGate.expect()
		c.done.Add(1)
		go c.fetchClusterUID(ctx, synced)
	}
	c.syncGate.setupDone()
}

// watchPods runs the pod watch, with the consumers' selectors applied by the API server.
func (c *Cache) watchPods(ctx context.Context) {
	c.watchPodsInto(ctx, "pods", c.settings.Namespace, c.settings.LabelSelector, c.settings.FieldSelector,
		newPodStore(c.podIndex, &c.needs.Pod, c.logger, c.syncGate.expect()))
}

// watchPodsInto runs a pod watch with the given selectors into store.
func (c *Cache) watchPodsInto(ctx context.Context, name, namespace, labelSel, fieldSel string, store *podStore) {
	api := c.clients.Core.CoreV1().Pods(namespace)
	selectors := func(opts *metav1.ListOptions) {
		opts.LabelSelector = labelSel
		opts.FieldSelector = fieldSel
	}
	podLW := reportingListWatch(c.failures, "", "pods", selectors, api.List, api.Watch)
	// Pods, the large list, stream (WatchList) when the API server and the client support it: the
	// reflector then trims each pod as it arrives (podStore.Transformer) instead of decoding the
	// whole list first, which bounds the memory peak of the initial sync.
	var lw cache.ListerWatcher = podLW
	if watchlist.DoesClientNotSupportWatchListSemantics(c.clients.Core) {
		lw = plainListWatch(podLW) // client-go fakes
	}
	c.run(ctx, name, lw, &corev1.Pod{}, store)
}

// watchObjects runs the metadata-only watch of one kind.
func (c *Cache) watchObjects(ctx context.Context, kind Kind, store *objectStore) {
	gvr := kindGVR[kind]
	var api metadata.ResourceInterface = c.clients.Metadata.Resource(gvr)
	if c.settings.Namespace != "" && !kind.clusterScoped() {
		// Workloads of a namespace-restricted cache: a namespaced Role is enough.
		api = c.clients.Metadata.Resource(gvr).Namespace(c.settings.Namespace)
	}
	fieldSel := ""
	if kind == KindNode && c.settings.NodeName != "" {
		// An agent only needs its own node.
		fieldSel = "metadata.name=" + c.settings.NodeName
	}
	selectors := func(opts *metav1.ListOptions) { opts.FieldSelector = fieldSel }
	store.onSynced = c.syncGate.expect()
	lw := reportingListWatch(c.failures, gvr.Group, gvr.Resource, selectors, api.List, api.Watch)
	c.run(ctx, string(kind), plainListWatch(lw), &metav1.PartialObjectMetadata{}, store)
}

// reportingListWatch lists and watches one resource with selectors applied, reporting every
// failure to errs as it happens.
func reportingListWatch[L runtime.Object](errs *watchErrors, group, resource string, selectors func(*metav1.ListOptions),
	list func(context.Context, metav1.ListOptions) (L, error), watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			selectors(&opts)
			l, err := list(ctx, opts)
			return l, errs.failed(err, "list", group, resource)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			selectors(&opts)
			w, err := watchFn(ctx, opts)
			return w, errs.failed(err, "watch", group, resource)
		},
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
				c.failures.report(fmt.Errorf("watching %s: %w", name, err))
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

func (c *Cache) fetchClusterUID(ctx context.Context, synced func()) {
	defer c.done.Done()
	for backoff := time.Second; ctx.Err() == nil; backoff = min(backoff*2, time.Minute) {
		ns, err := c.clients.Core.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
		if err == nil {
			uid := string(ns.UID)
			c.clusterUID.Store(&uid)
			synced()
			return
		}
		if ctx.Err() == nil {
			c.failures.report(fmt.Errorf("reading cluster uid: %w", explain(err, "get", "", "namespaces")))
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

// syncGate closes synced once every watch (and the cluster uid lookup) delivered its first full
// state. It holds one count for the setup itself until setupDone, so a watch that syncs before
// the next one is started cannot open it early.
type syncGate struct {
	pending atomic.Int32
	synced  chan struct{}
}

func newSyncGate() *syncGate {
	g := &syncGate{synced: make(chan struct{})}
	g.pending.Store(1)
	return g
}

// expect counts one more source to wait for; the source calls the returned function once, when
// it has synced.
func (g *syncGate) expect() func() {
	g.pending.Add(1)
	return g.release
}

// setupDone releases the setup's own count: every source is counted.
func (g *syncGate) setupDone() { g.release() }

func (g *syncGate) release() {
	if g.pending.Add(-1) == 0 {
		close(g.synced)
	}
}
