package podcache

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// streamingPods answers like kube-apiserver with WatchList: a watch with sendInitialEvents=true
// gets one ADDED event per pod, then a bookmark marking the end of the initial events. (The test
// fake lets the test see what reaches the store; the API-server tests stream for real.)
type streamingPods struct {
	pods             []*corev1.Pod
	listed, streamed atomic.Bool
}

func (s *streamingPods) listWatch() *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			s.listed.Store(true)
			l := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "100"}}
			for _, p := range s.pods {
				l.Items = append(l.Items, *p)
			}
			return l, nil
		},
		WatchFuncWithContext: func(_ context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			w := watch.NewFakeWithChanSize(len(s.pods)+1, false)
			if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
				s.streamed.Store(true)
				for _, p := range s.pods {
					w.Add(p.DeepCopy())
				}
				w.Action(watch.Bookmark, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "100",
					Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}})
			}
			return w, nil
		},
	}
}

// recordingPodStore notes what reached Replace; Transformer is promoted from podStore.
type recordingPodStore struct {
	*podStore
	replaced []string
}

func (r *recordingPodStore) Replace(list []any, rv string) error {
	for _, o := range list {
		r.replaced = append(r.replaced, fmt.Sprintf("%T", o))
	}
	return r.podStore.Replace(list, rv)
}

// A streamed initial pod list is trimmed pod by pod as it arrives (the reflector's temporary store
// applies podStore.Transformer), so the full pods are never all held at once; the cache ends up
// with the same pods as from a plain list.
func TestStreamedPodListTrimmedOnArrival(t *testing.T) {
	src := &streamingPods{}
	for i := range 50 {
		src.pods = append(src.pods, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("web-%d", i), UID: types.UID(fmt.Sprint("uid-", i)),
				ResourceVersion: fmt.Sprint(i + 1), Labels: map[string]string{"app": "web", "unused": "x"}},
			Status: corev1.PodStatus{PodIP: fmt.Sprintf("10.0.0.%d", i)},
		})
	}
	c := newCache(Settings{}, labelNeeds("app"), Clients{}, zap.NewNop())
	synced := make(chan struct{})
	store := &recordingPodStore{podStore: newPodStore(c.podIndex, &c.needs.Pod, zap.NewNop(), func() { close(synced) })}
	r := cache.NewReflectorWithOptions(src.listWatch(), &corev1.Pod{}, store, cache.ReflectorOptions{Name: t.Name()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.RunWithContext(ctx)

	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("no initial sync within 10s")
	}
	require.True(t, src.streamed.Load(), "the reflector did not ask for a streamed list")
	require.False(t, src.listed.Load(), "the reflector fell back to a plain list")
	require.Len(t, store.replaced, 50)
	for _, typ := range store.replaced {
		require.Equal(t, "*podcache.trimmedPod", typ, "pods must be trimmed before the list is complete")
	}
	require.Equal(t, 50, c.PodCount())
	p, ok := c.ByUID("uid-7")
	require.True(t, ok)
	require.Equal(t, "web-7", p.Name)
	require.Equal(t, map[string]string{"app": "web"}, p.Labels, "only extracted labels are kept")
}
