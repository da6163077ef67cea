package k8staggingprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The keys come from the semantic conventions package; a later conventions version that renamed
// one must not silently change what configurations accept or what data carries. The list is
// contrib v0.161.0's, spelled out.
func TestSupportedMetadataKeysAreContribs(t *testing.T) {
	assert.Equal(t, []string{
		"k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid", "k8s.pod.hostname", "k8s.pod.start_time", "k8s.pod.ip",
		"k8s.deployment.name", "k8s.deployment.uid", "k8s.replicaset.name", "k8s.replicaset.uid",
		"k8s.daemonset.name", "k8s.daemonset.uid", "k8s.statefulset.name", "k8s.statefulset.uid",
		"k8s.job.name", "k8s.job.uid", "k8s.cronjob.name", "k8s.cronjob.uid", "k8s.node.name", "k8s.node.uid",
		"k8s.container.name", "container.id", "container.image.name", "container.image.tag", "container.image.tags",
		"container.image.repo_digests", "service.namespace", "service.name", "service.version", "service.instance.id",
		"k8s.cluster.uid",
	}, supportedMetadata)
	assert.Equal(t, "host.name", attrHostName, "read by the default association")
	assert.Equal(t, "k8s.namespace.label.", fieldAttrPrefix(fromNamespace, fieldLabel))
}
