package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"fmt"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// podStore receives the reflector's pods, trims them and hands them to the index; the full
// objects are dropped right away, so only the trimmed form is ever retained.
type podStore struct {
	pods     *podIndex
	needs    *PodNeeds
	logger   *zap.Logger
	created  time.Time
	onSynced func()
	synced   bool
}

func newPodStore(pods *podIndex, needs *PodNeeds, logger *zap.Logger, onSynced func()) *podStore {
	return &podStore{pods: pods, needs: needs, logger: logger, created: time.Now(), onSynced: onSynced}
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
			pod:  trimPod(pod, s.needs),
		}, nil
	}
}

// podOf returns the trimmed form of a pod from the reflector, full or already trimmed.
func (s *podStore) podOf(obj any) (*Pod, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return trimPod(o, s.needs), nil
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
	s.pods.upsert(pod)
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
	s.pods.markDeleted(pod.UID)
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
		s.pods.upsert(pod)
	}
	for _, uid := range s.pods.liveNotIn(seen) {
		s.pods.markDeleted(uid)
	}
	if !s.synced {
		s.synced = true
		s.logger.Info("k8s_tagging pod cache synced", zap.Int("pods", len(list)),
			zap.String("initial_list", initialListKind(list)), zap.Duration("after", time.Since(s.created)))
		s.onSynced()
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
