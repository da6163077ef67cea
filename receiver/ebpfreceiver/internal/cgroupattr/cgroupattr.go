// Package cgroupattr derives Kubernetes and container identities from cgroup
// paths, for both cgroup drivers (systemd and cgroupfs) of containerd, CRI-O
// and Docker. It works without the API server; the k8s tagging processor
// then associates telemetry on the container.id and k8s.pod.uid it returns.
package cgroupattr

import (
	"regexp"
	"strings"
)

// IDs are the identities found in a cgroup path; empty when absent.
type IDs struct {
	ContainerID string // 64 lowercase hex characters
	PodUID      string // canonical dashed UUID
}

// Container runtimes name container cgroups "<prefix><id>[.scope]":
//
//	systemd driver:  cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope, libpod-<id>.scope
//	cgroupfs driver: <id> (containerd, Docker), crio-<id> (CRI-O)
//
// crio-conmon-<id>.scope is CRI-O's monitor process, not the container, and
// does not match because "conmon-" is not part of a 64-hex id.
var containerRE = regexp.MustCompile(`^(?:cri-containerd-|crio-|docker-|libpod-|containerd-)?([0-9a-f]{64})(?:\.scope)?$`)

// Pod cgroups: "pod<uid>" (cgroupfs) or "kubepods[-<qos>]-pod<uid_with_underscores>.slice" (systemd).
var podRE = regexp.MustCompile(`(?:^|-)pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$`)

// FromPath returns the container id and pod UID a cgroup path shows. The
// deepest matching component wins, so cgroups nested inside a container (for
// example a systemd inside it) still map to that container.
func FromPath(path string) IDs {
	var ids IDs
	parts := strings.Split(path, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if ids.ContainerID == "" {
			if m := containerRE.FindStringSubmatch(p); m != nil {
				ids.ContainerID = m[1]
				continue
			}
		}
		if ids.PodUID == "" {
			if m := podRE.FindStringSubmatch(p); m != nil {
				ids.PodUID = strings.ReplaceAll(m[1], "_", "-")
			}
		}
	}
	return ids
}
