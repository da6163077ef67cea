package podcache

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseImage(t *testing.T) {
	tests := []struct{ in, repo, tag string }{
		{"nginx", "docker.io/library/nginx", "latest"},
		{"nginx:1.27", "docker.io/library/nginx", "1.27"},
		{"bitnami/redis:7", "docker.io/bitnami/redis", "7"},
		{"registry.example.com:5000/shop/web:1.4.2", "registry.example.com:5000/shop/web", "1.4.2"},
		{"registry.example.com:5000/shop/web", "registry.example.com:5000/shop/web", "latest"},
		{"localhost/app:dev", "localhost/app", "dev"},
		{"ghcr.io/acme/api@sha256:abc", "ghcr.io/acme/api", ""},
		{"ghcr.io/acme/api:2.0@sha256:abc", "ghcr.io/acme/api", "2.0"},
		{"", "", ""},
	}
	for _, tt := range tests {
		repo, tag := parseImage(tt.in)
		assert.Equal(t, tt.repo, repo, tt.in)
		assert.Equal(t, tt.tag, tag, tt.in)
	}
}

func TestOwnerHeuristics(t *testing.T) {
	assert.Equal(t, "web", deploymentFromReplicaSet("web-7d4b9c", "7d4b9c"))
	assert.Equal(t, "my-web-app", deploymentFromReplicaSet("my-web-app-5f6d", "5f6d"))
	assert.Equal(t, "", deploymentFromReplicaSet("standalone-rs", ""), "a bare ReplicaSet has no deployment")
	assert.Equal(t, "", deploymentFromReplicaSet("web-7d4b9c", "other"))

	created := metav1.NewTime(time.Unix(29_000_000*60+30, 0))
	assert.Equal(t, "backup", cronJobFromJob("backup-29000000", created))
	assert.Equal(t, "db-backup", cronJobFromJob("db-backup-29000000", created))
	assert.Equal(t, "", cronJobFromJob("migrate-1", created), "short numeric suffix is not a schedule time")
	assert.Equal(t, "", cronJobFromJob("migrate-abcdefgh", created))
	assert.Equal(t, "", cronJobFromJob("job-99999999", created), "schedule time far after pod creation")
	assert.Equal(t, "", cronJobFromJob("nodash", created))
}

func TestTrimPodKeepsOnlyWhatIsNeeded(t *testing.T) {
	in := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u",
			Labels:          map[string]string{"app": "x", "team": "t", "pod-template-hash": "h1", "env.prod": "1"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{big}", "resource.opentelemetry.io/a": "b"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "d-h1", UID: "rs"}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
		Status: corev1.PodStatus{
			PodIPs:            []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", ContainerID: "cri-o://abc", RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "cri-o://old"}}}},
		},
	}
	needs := &PodNeeds{}
	needs.Labels.AddKey("team")
	needs.Labels.Regexes = []*regexp.Regexp{regexp.MustCompile(`^env\..*$`)}
	needs.Annotations.Prefixes = []string{"resource.opentelemetry.io/"}
	p := trimPod(in, needs)
	assert.Equal(t, map[string]string{"team": "t", "env.prod": "1"}, p.Labels)
	assert.Equal(t, map[string]string{"resource.opentelemetry.io/a": "b"}, p.Annotations)
	assert.Equal(t, []string{"10.0.0.1", "fd00::1"}, p.IPs)
	assert.Equal(t, "d", p.DeploymentName)
	assert.Equal(t, []Container{{Name: "c", ID: "abc", PreviousID: "old"}}, p.Containers, "ids are kept for association even when no container attribute is extracted")

	needs.Containers = true
	p = trimPod(in, needs)
	assert.Equal(t, []Container{{Name: "c", ID: "abc", PreviousID: "old", ImageName: "docker.io/library/nginx", ImageTag: "1", RestartCount: 1}}, p.Containers)
	c, ok := p.ContainerByID("old")
	assert.True(t, ok, "late data of the previous container instance is matched")
	assert.Equal(t, "c", c.Name)

	in.Status.PodIPs = nil
	in.Status.PodIP = "10.0.0.2"
	assert.Equal(t, []string{"10.0.0.2"}, trimPod(in, needs).IPs, "status.podIP is used when podIPs is empty")
}

func TestIndexPrecedence(t *testing.T) {
	c := newCache(Settings{DeleteGracePeriod: time.Hour}, Needs{}, Clients{}, nil)
	live := &Pod{UID: "a", Name: "a", Namespace: "ns", IPs: []string{"10.0.0.1"}}
	c.upsert(live)
	done := &Pod{UID: "b", Name: "b", Namespace: "ns", IPs: []string{"10.0.0.1"}, Terminated: true}
	c.upsert(done)
	got, _ := c.ByIP("10.0.0.1")
	assert.Equal(t, "a", got.Name, "a completed pod does not take a running pod's IP")

	c.markDeleted("a")
	got, _ = c.ByIP("10.0.0.1")
	assert.Equal(t, "a", got.Name, "deleted pod keeps its entries during the grace period")
	fresh := &Pod{UID: "c", Name: "c", Namespace: "ns", IPs: []string{"10.0.0.1"}}
	c.upsert(fresh)
	got, _ = c.ByIP("10.0.0.1")
	assert.Equal(t, "c", got.Name, "a new pod reusing the IP wins over the deleted one")
	got, ok := c.ByUID("a")
	assert.True(t, ok)
	assert.False(t, got.DeletedAt.IsZero())

	hn := &Pod{UID: "h", Name: "h", Namespace: "ns", IPs: []string{"192.168.0.1"}, HostNetwork: true}
	c.upsert(hn)
	_, ok = c.ByIP("192.168.0.1")
	assert.False(t, ok, "hostNetwork pods are not indexed by IP")
}
