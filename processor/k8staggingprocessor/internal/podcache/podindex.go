package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"sync"
	"time"
)

// podIndex holds the trimmed pods under every key data names a pod by, and keeps deleted pods for
// the grace period so data that arrives late is still tagged. Its exported methods are the
// Cache's pod lookups.
type podIndex struct {
	grace time.Duration

	mu          sync.RWMutex
	byUID       map[string]*Pod
	byName      map[string]*Pod // namespace/name
	byIP        map[string]*Pod
	byContainer map[string]*Pod
	changed     chan struct{}
}

func newPodIndex(grace time.Duration) *podIndex {
	return &podIndex{
		grace:       grace,
		byUID:       map[string]*Pod{},
		byName:      map[string]*Pod{},
		byIP:        map[string]*Pod{},
		byContainer: map[string]*Pod{},
		changed:     make(chan struct{}),
	}
}

// ByUID, ByIP, ByContainerID and ByName look a pod up.
func (x *podIndex) ByUID(uid string) (*Pod, bool) { return x.lookup(x.byUID, uid) }

// ByIP returns the pod that owns ip; hostNetwork pods are never returned (they share the node's IP).
func (x *podIndex) ByIP(ip string) (*Pod, bool) { return x.lookup(x.byIP, ip) }

// ByContainerID accepts ids with or without a runtime prefix.
func (x *podIndex) ByContainerID(id string) (*Pod, bool) {
	return x.lookup(x.byContainer, stripRuntimePrefix(id))
}

// ByName looks a pod up by namespace and name.
func (x *podIndex) ByName(namespace, name string) (*Pod, bool) {
	return x.lookup(x.byName, nameKey(namespace, name))
}

func nameKey(namespace, name string) string { return namespace + "/" + name }

func (x *podIndex) lookup(m map[string]*Pod, k string) (*Pod, bool) {
	x.mu.RLock()
	p, ok := m[k]
	x.mu.RUnlock()
	return p, ok
}

// Changed returns a channel closed at the next pod addition or update.
func (x *podIndex) Changed() <-chan struct{} {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.changed
}

// PodCount is the number of pods held (live and within the delete grace period).
func (x *podIndex) PodCount() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byUID)
}

// upsert stores p (a new or updated pod) and re-points its index entries.
func (x *podIndex) upsert(p *Pod) {
	x.mu.Lock()
	old := x.byUID[p.UID]
	x.unindex(old)
	x.index(p, true)
	close(x.changed)
	x.changed = make(chan struct{})
	x.mu.Unlock()
}

// markDeleted keeps a deleted pod for the grace period, without letting it take an IP or name
// that a live pod already holds.
func (x *podIndex) markDeleted(uid string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	old := x.byUID[uid]
	if old == nil || !old.DeletedAt.IsZero() {
		return
	}
	x.unindex(old)
	if x.grace <= 0 {
		return
	}
	gone := *old
	gone.DeletedAt = time.Now()
	x.index(&gone, false)
	time.AfterFunc(x.grace, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		if x.byUID[uid] == &gone {
			x.unindex(&gone)
		}
	})
}

// liveNotIn returns the uids of the live pods not in seen: after a relist, the pods deleted while
// the watch was down.
func (x *podIndex) liveNotIn(seen map[string]struct{}) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var gone []string
	for uid, p := range x.byUID {
		if _, ok := seen[uid]; !ok && p.DeletedAt.IsZero() {
			gone = append(gone, uid)
		}
	}
	return gone
}

// index adds p's entries. claim says whether p may take over keys held by another pod: a live
// pod takes an IP from a deleted or terminated one (IP reuse), never the other way round.
func (x *podIndex) index(p *Pod, claim bool) {
	x.byUID[p.UID] = p
	x.eachKey(p, func(m map[string]*Pod, k string) {
		if holder, ok := m[k]; ok && holder != p && !(claim && mayTake(p, holder)) {
			return
		}
		m[k] = p
	})
}

// unindex removes the entries that still point at p.
func (x *podIndex) unindex(p *Pod) {
	if p == nil {
		return
	}
	drop := func(m map[string]*Pod, k string) {
		if m[k] == p {
			delete(m, k)
		}
	}
	drop(x.byUID, p.UID)
	x.eachKey(p, drop)
}

// eachKey calls f for every index entry p is filed under besides its uid.
func (x *podIndex) eachKey(p *Pod, f func(m map[string]*Pod, k string)) {
	visit := func(m map[string]*Pod, k string) {
		if k != "" {
			f(m, k)
		}
	}
	visit(x.byName, nameKey(p.Namespace, p.Name))
	for _, ip := range p.IdentifyingIPs() {
		visit(x.byIP, ip)
	}
	for i := range p.Containers {
		visit(x.byContainer, p.Containers[i].ID)
		visit(x.byContainer, p.Containers[i].PreviousID)
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
