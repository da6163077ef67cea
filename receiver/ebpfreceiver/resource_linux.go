//go:build linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/cgroupattr"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/cgroupfs"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
)

// Resource attributes of the receiver (see README.md "Resource attributes").
const (
	attrHostName       = "host.name"
	attrContainerID    = "container.id"
	attrPodUID         = "k8s.pod.uid"
	attrCgroupPath     = "linux.cgroup.path"    // path below the cgroup2 mount, e.g. /kubepods.slice/...
	attrCgroupID       = "linux.cgroup.id"      // only when the path could not be resolved
	attrCgroupOverflow = "ebpf.cgroup.overflow" // true on the series that collects cgroups beyond max_cgroups
)

// resourceAttrs describes the resource of a cgroup id and caches the parsing.
type resourceAttrs struct {
	hostName string
	resolver *cgroupfs.Resolver

	mu    sync.Mutex
	known map[uint64]cgroupattr.IDs
}

// cgroupPath returns the path of a cgroup id; ok is false when unknown.
// Id 0 means "no cgroup" (for example a reset sent without a socket).
func (a *resourceAttrs) cgroupPath(id uint64) (string, bool) {
	if id == 0 || id == probes.OverflowCgroupID {
		return "", false
	}
	return a.resolver.Path(id)
}

// fill writes the resource attributes of cgroup id into res.
func (a *resourceAttrs) fill(res pcommon.Resource, id uint64) {
	attrs := res.Attributes()
	attrs.PutStr(attrHostName, a.hostName)
	switch id {
	case 0:
		return // host-level data
	case probes.OverflowCgroupID:
		attrs.PutBool(attrCgroupOverflow, true)
		return
	}
	path, ok := a.cgroupPath(id)
	if !ok {
		attrs.PutInt(attrCgroupID, int64(id))
		return
	}
	attrs.PutStr(attrCgroupPath, path)
	a.mu.Lock()
	ids, cached := a.known[id]
	if !cached {
		ids = cgroupattr.FromPath(path)
		if a.known == nil {
			a.known = map[uint64]cgroupattr.IDs{}
		}
		a.known[id] = ids
	}
	a.mu.Unlock()
	if ids.ContainerID != "" {
		attrs.PutStr(attrContainerID, ids.ContainerID)
	}
	if ids.PodUID != "" {
		attrs.PutStr(attrPodUID, ids.PodUID)
	}
}

func (a *resourceAttrs) forget(id uint64) {
	a.resolver.Forget(id)
	a.mu.Lock()
	delete(a.known, id)
	a.mu.Unlock()
}

// included applies the cgroup filter; host-level and overflow data always pass
// unless there is an include list.
func (a *resourceAttrs) included(m *cgroupMatcher, id uint64) bool {
	if len(m.include) == 0 && len(m.exclude) == 0 {
		return true
	}
	path, _ := a.cgroupPath(id)
	return m.Match(path)
}
