package k8staggingprocessor // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"

import (
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Resource attribute keys the processor adds (extract.metadata) or reads to find the pod
// (pod_association). The keys are the OpenTelemetry semantic conventions' wherever they define
// them; the two exceptions say why.
const (
	attrNamespaceName     = string(semconv.K8SNamespaceNameKey)
	attrPodName           = string(semconv.K8SPodNameKey)
	attrPodUID            = string(semconv.K8SPodUIDKey)
	attrPodHostname       = string(semconv.K8SPodHostnameKey)
	attrPodStartTime      = string(semconv.K8SPodStartTimeKey)
	attrPodIP             = string(semconv.K8SPodIPKey)
	attrDeploymentName    = string(semconv.K8SDeploymentNameKey)
	attrDeploymentUID     = string(semconv.K8SDeploymentUIDKey)
	attrReplicaSetName    = string(semconv.K8SReplicaSetNameKey)
	attrReplicaSetUID     = string(semconv.K8SReplicaSetUIDKey)
	attrDaemonSetName     = string(semconv.K8SDaemonSetNameKey)
	attrDaemonSetUID      = string(semconv.K8SDaemonSetUIDKey)
	attrStatefulSetName   = string(semconv.K8SStatefulSetNameKey)
	attrStatefulSetUID    = string(semconv.K8SStatefulSetUIDKey)
	attrJobName           = string(semconv.K8SJobNameKey)
	attrJobUID            = string(semconv.K8SJobUIDKey)
	attrCronJobName       = string(semconv.K8SCronJobNameKey)
	attrCronJobUID        = string(semconv.K8SCronJobUIDKey)
	attrNodeName          = string(semconv.K8SNodeNameKey)
	attrNodeUID           = string(semconv.K8SNodeUIDKey)
	attrContainerName     = string(semconv.K8SContainerNameKey)
	attrContainerID       = string(semconv.ContainerIDKey)
	attrImageName         = string(semconv.ContainerImageNameKey)
	attrImageTags         = string(semconv.ContainerImageTagsKey)
	attrImageRepoDigests  = string(semconv.ContainerImageRepoDigestsKey)
	attrServiceNamespace  = string(semconv.ServiceNamespaceKey)
	attrServiceName       = string(semconv.ServiceNameKey)
	attrServiceVersion    = string(semconv.ServiceVersionKey)
	attrServiceInstanceID = string(semconv.ServiceInstanceIDKey)
	attrClusterUID        = string(semconv.K8SClusterUIDKey)
	attrHostName          = string(semconv.HostNameKey)

	// attrImageTag is the single-valued key the conventions replaced with container.image.tags
	// (v1.22) and have since dropped; contrib still accepts it in extract.metadata, so we do too.
	attrImageTag = "container.image.tag"
	// attrClientIP is not a convention: it is the attribute contrib's default association reads
	// besides k8s.pod.ip.
	attrClientIP = "ip"
)

// supportedMetadata is what extract.metadata accepts (contrib v0.161.0's list).
var supportedMetadata = []string{
	attrNamespaceName, attrPodName, attrPodUID, attrPodHostname, attrPodStartTime, attrPodIP,
	attrDeploymentName, attrDeploymentUID, attrReplicaSetName, attrReplicaSetUID,
	attrDaemonSetName, attrDaemonSetUID, attrStatefulSetName, attrStatefulSetUID,
	attrJobName, attrJobUID, attrCronJobName, attrCronJobUID, attrNodeName, attrNodeUID,
	attrContainerName, attrContainerID, attrImageName, attrImageTag, attrImageTags, attrImageRepoDigests,
	attrServiceNamespace, attrServiceName, attrServiceVersion, attrServiceInstanceID, attrClusterUID,
}

// defaultMetadata is what contrib v0.161.0 extracts by default (its EmitV1K8sConventions and
// DontEmitV0K8sConventions gates are beta, i.e. on: container.image.tags, not .tag).
func defaultMetadata() []string {
	return []string{
		attrImageName, attrImageTags, attrDeploymentName, attrNamespaceName,
		attrNodeName, attrPodName, attrPodStartTime, attrPodUID,
	}
}

// Objects a label or annotation is read from (extract.labels[].from, extract.annotations[].from).
// Each also names its attributes: k8s.<from>.label.<key> and k8s.<from>.annotation.<key>.
const (
	fromPod         = "pod"
	fromNamespace   = "namespace"
	fromNode        = "node"
	fromDeployment  = "deployment"
	fromReplicaSet  = "replicaset"
	fromStatefulSet = "statefulset"
	fromDaemonSet   = "daemonset"
	fromJob         = "job"
	fromCronJob     = "cronjob"
)

var validFroms = []string{fromPod, fromNamespace, fromNode, fromDeployment, fromReplicaSet, fromStatefulSet, fromDaemonSet, fromJob, fromCronJob}

// Kinds of copied metadata, as they appear in the default attribute names.
const (
	fieldLabel      = "label"
	fieldAnnotation = "annotation"
)

// fieldAttrPrefix is the default attribute name of a copied label or annotation without its key,
// e.g. "k8s.pod.label." (semantic conventions v1: k8s.<object>.label.<key>).
func fieldAttrPrefix(from, field string) string {
	return "k8s." + from + "." + field + "."
}
