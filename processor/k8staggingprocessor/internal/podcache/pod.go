package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pod is the trimmed form of a pod kept in the cache. It is immutable once stored: an update
// replaces the pointer, so readers need no lock after the lookup.
type Pod struct {
	UID, Name, Namespace, NodeName, Hostname string
	// StartTime is the creation time formatted as RFC 3339 (what contrib reports as k8s.pod.start_time).
	StartTime   string
	IPs         []string
	HostNetwork bool
	// Labels and Annotations hold only the keys some consumer extracts (nil when none).
	Labels, Annotations map[string]string

	ReplicaSetName, ReplicaSetUID   string
	StatefulSetName, StatefulSetUID string
	DaemonSetName, DaemonSetUID     string
	JobName, JobUID                 string
	// DeploymentName and CronJobName are derived from the owner names (see ownerHeuristics).
	DeploymentName, CronJobName string

	Containers []Container
	// Terminated marks pods in phase Succeeded or Failed: their IP may already belong to another pod.
	Terminated bool
	// DeletedAt is set while a deleted pod is kept for the grace period.
	DeletedAt time.Time
}

// IdentifyingIPs are the pod's addresses that tell it apart: none for a hostNetwork pod, which
// shares its node's address with the node and every other hostNetwork pod there.
func (p *Pod) IdentifyingIPs() []string {
	if p.HostNetwork {
		return nil
	}
	return p.IPs
}

// Container is one container of a pod (spec and current status).
type Container struct {
	Name string
	// ID is the current container id without the runtime prefix ("containerd://").
	ID string
	// PreviousID is the id of the last terminated instance, so late data of a restarted container is tagged.
	PreviousID   string
	ImageName    string
	ImageTag     string
	RepoDigest   string
	RestartCount int32
}

// ContainerByID returns the container with the given id (current or previous instance); the id
// may carry a runtime prefix ("containerd://").
func (p *Pod) ContainerByID(id string) (*Container, bool) {
	id = stripRuntimePrefix(id)
	for i := range p.Containers {
		if p.Containers[i].ID == id || (p.Containers[i].PreviousID != "" && p.Containers[i].PreviousID == id) {
			return &p.Containers[i], true
		}
	}
	return nil, false
}

// ContainerByName returns the container with the given name.
func (p *Pod) ContainerByName(name string) (*Container, bool) {
	for i := range p.Containers {
		if p.Containers[i].Name == name {
			return &p.Containers[i], true
		}
	}
	return nil, false
}

const podTemplateHashLabel = "pod-template-hash"

// trimPod converts an API pod into the cache's form, keeping only what needs asks for.
func trimPod(in *corev1.Pod, needs *PodNeeds) *Pod {
	p := &Pod{
		UID:         intern(string(in.UID)),
		Name:        intern(in.Name),
		Namespace:   intern(in.Namespace),
		NodeName:    intern(in.Spec.NodeName),
		HostNetwork: in.Spec.HostNetwork,
		Terminated:  in.Status.Phase == corev1.PodSucceeded || in.Status.Phase == corev1.PodFailed,
		Labels:      needs.Labels.filterMap(in.Labels),
		Annotations: needs.Annotations.filterMap(in.Annotations),
	}
	if needs.Hostname {
		p.Hostname = intern(in.Spec.Hostname)
	}
	if needs.StartTime && !in.CreationTimestamp.IsZero() {
		p.StartTime = in.CreationTimestamp.UTC().Format(time.RFC3339)
	}
	// Every pod IP is indexed (dual-stack); status.podIP is the first of status.podIPs, but old
	// API servers only fill podIP.
	for _, ip := range in.Status.PodIPs {
		if ip.IP != "" {
			p.IPs = append(p.IPs, intern(ip.IP))
		}
	}
	if len(p.IPs) == 0 && in.Status.PodIP != "" {
		p.IPs = []string{intern(in.Status.PodIP)}
	}
	setOwners(p, in)

	if needs.Containers {
		p.Containers = trimContainers(in, needs.RepoDigests)
	} else {
		// Container ids are still kept: association by container.id works for every config.
		for _, st := range slices.Concat(in.Status.ContainerStatuses, in.Status.InitContainerStatuses) {
			if id := stripRuntimePrefix(st.ContainerID); id != "" {
				c := Container{Name: intern(st.Name), ID: intern(id)}
				if st.LastTerminationState.Terminated != nil {
					c.PreviousID = intern(stripRuntimePrefix(st.LastTerminationState.Terminated.ContainerID))
				}
				p.Containers = append(p.Containers, c)
			}
		}
	}
	return p
}

func trimContainers(in *corev1.Pod, digests bool) []Container {
	specs := len(in.Spec.Containers) + len(in.Spec.InitContainers)
	out := make([]Container, 0, specs)
	index := make(map[string]int, specs)
	addSpec := func(cs []corev1.Container) {
		for _, c := range cs {
			name, tag := parseImage(c.Image)
			index[c.Name] = len(out)
			out = append(out, Container{Name: intern(c.Name), ImageName: intern(name), ImageTag: intern(tag)})
		}
	}
	addSpec(in.Spec.Containers)
	addSpec(in.Spec.InitContainers)
	addStatus := func(sts []corev1.ContainerStatus) {
		for _, st := range sts {
			i, ok := index[st.Name]
			if !ok {
				index[st.Name] = len(out)
				i = len(out)
				out = append(out, Container{Name: intern(st.Name)})
			}
			c := &out[i]
			c.ID = intern(stripRuntimePrefix(st.ContainerID))
			c.RestartCount = st.RestartCount
			if st.LastTerminationState.Terminated != nil {
				c.PreviousID = intern(stripRuntimePrefix(st.LastTerminationState.Terminated.ContainerID))
			}
			if digests {
				c.RepoDigest = intern(repoDigest(st.ImageID))
			}
		}
	}
	addStatus(in.Status.ContainerStatuses)
	addStatus(in.Status.InitContainerStatuses)
	return out
}

// stripRuntimePrefix turns "containerd://abc" into "abc" (the form the eBPF receiver and the
// kubelet's cgroup paths use).
func stripRuntimePrefix(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// repoDigest returns "repo@sha256:..." from a status imageID such as
// "docker.io/library/nginx@sha256:...", or "" when the id carries no digest.
func repoDigest(imageID string) string {
	imageID = stripRuntimePrefix(imageID)
	if !strings.Contains(imageID, "@") {
		return ""
	}
	name, digest, _ := strings.Cut(imageID, "@")
	repo, _ := parseImage(name)
	return repo + "@" + digest
}

// parseImage splits an image reference into the normalized repository and tag, the way the
// container runtimes (and contrib) read it: "nginx" is docker.io/library/nginx:latest, a digest
// reference has no tag.
func parseImage(image string) (repo, tag string) {
	if image == "" {
		return "", ""
	}
	name, digest, hasDigest := strings.Cut(image, "@")
	if slash := strings.LastIndexByte(name, '/'); strings.LastIndexByte(name, ':') > slash {
		colon := strings.LastIndexByte(name, ':')
		tag = name[colon+1:]
		name = name[:colon]
	}
	if tag == "" && (!hasDigest || digest == "") {
		tag = "latest"
	}
	domain, rest, found := strings.Cut(name, "/")
	if !found || (!strings.ContainsAny(domain, ".:") && domain != "localhost") {
		// No registry in the reference: Docker Hub, with "library/" for official images.
		rest = name
		domain = "docker.io"
		if !strings.Contains(rest, "/") {
			rest = "library/" + rest
		}
	}
	return domain + "/" + rest, tag
}

// setOwners records the controller owners and derives the deployment and cronjob names without
// watching ReplicaSets or Jobs: a Deployment names its ReplicaSets "<deployment>-<pod-template-hash>",
// a CronJob names its Jobs "<cronjob>-<scheduled time in minutes since the epoch>".
func setOwners(p *Pod, in *corev1.Pod) {
	for _, ref := range in.OwnerReferences {
		switch ref.Kind {
		case "ReplicaSet":
			p.ReplicaSetName, p.ReplicaSetUID = intern(ref.Name), intern(string(ref.UID))
			p.DeploymentName = intern(deploymentFromReplicaSet(ref.Name, in.Labels[podTemplateHashLabel]))
		case "StatefulSet":
			p.StatefulSetName, p.StatefulSetUID = intern(ref.Name), intern(string(ref.UID))
		case "DaemonSet":
			p.DaemonSetName, p.DaemonSetUID = intern(ref.Name), intern(string(ref.UID))
		case "Job":
			p.JobName, p.JobUID = intern(ref.Name), intern(string(ref.UID))
			p.CronJobName = intern(cronJobFromJob(ref.Name, in.CreationTimestamp))
		}
	}
}

// deploymentFromReplicaSet returns the deployment name, or "" when the ReplicaSet is not one a
// Deployment created (its pods then carry no matching pod-template-hash).
func deploymentFromReplicaSet(rsName, hash string) string {
	if hash == "" || !strings.HasSuffix(rsName, "-"+hash) {
		return ""
	}
	return rsName[:len(rsName)-len(hash)-1]
}

// cronJobFromJob returns the CronJob name for a Job named "<cronjob>-<minutes>", or "" for a Job
// that does not look scheduled: the suffix must be all digits (8 or more) and, read as minutes since
// the epoch, lie no later than shortly after the pod was created and at most a week before (a
// scheduled job's pods start after its schedule time, retried ones later).
func cronJobFromJob(jobName string, created metav1.Time) string {
	i := strings.LastIndexByte(jobName, '-')
	if i <= 0 || len(jobName)-i-1 < 8 {
		return ""
	}
	minutes, err := strconv.ParseInt(jobName[i+1:], 10, 64)
	if err != nil || minutes < 0 {
		return ""
	}
	if !created.IsZero() {
		podMinutes := created.Unix() / 60
		if minutes > podMinutes+5 || minutes < podMinutes-7*24*60 {
			return ""
		}
	}
	return jobName[:i]
}

// intern returns the canonical copy of s so the many pods sharing a namespace, node, label or
// image string hold one copy; unique's handles are weak, so churned strings are collected.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}
