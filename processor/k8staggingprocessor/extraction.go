package k8staggingprocessor // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"

import (
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"
)

const (
	// otelAnnotationPrefix marks pod annotations copied verbatim as resource attributes.
	otelAnnotationPrefix = "resource.opentelemetry.io/"
	// ignoreAnnotation set to "true" on a pod keeps its data untagged (as in contrib).
	ignoreAnnotation = "opentelemetry.io/k8s-processor/ignore"

	labelAppName     = "app.kubernetes.io/name"
	labelAppInstance = "app.kubernetes.io/instance"
	labelAppVersion  = "app.kubernetes.io/version"
)

// fieldRule is a compiled extract.labels / extract.annotations entry.
type fieldRule struct {
	tagName string
	key     string
	regex   *regexp.Regexp
	// prefix is the default attribute name prefix, e.g. "k8s.pod.label." .
	prefix string
}

// apply copies the matching entries of m into attrs.
func (r *fieldRule) apply(m map[string]string, attrs pcommon.Map) {
	if r.regex == nil {
		v, ok := m[r.key]
		if !ok {
			return
		}
		name := r.tagName
		if name == "" {
			name = r.prefix + r.key
		}
		putIfAbsent(attrs, name, v)
		return
	}
	for k, v := range m {
		match := r.regex.FindStringSubmatchIndex(k)
		if match == nil {
			continue
		}
		name := r.prefix + k
		if r.tagName != "" {
			name = string(r.regex.ExpandString(nil, r.tagName, k, match))
		}
		putIfAbsent(attrs, name, v)
	}
}

// wholeKey anchors a key_regex: it must match the whole label or annotation key (as in contrib).
func wholeKey(keyRegex string) string { return "^(?:" + keyRegex + ")$" }

// extraction is what one processor adds, compiled from its extract section.
type extraction struct {
	metadata map[string]bool
	// rules by source object; annotations after labels so OTel annotations win over labels.
	labels, annotations map[string][]fieldRule
	otelAnnotations     bool
	// preciseDeployment and preciseCronJob ask for the ReplicaSet / Job metadata watches.
	preciseDeployment, preciseCronJob bool
	// podFields are the enabled attributes read straight from the pod, resolved once so tagging
	// does no per-attribute configuration lookups.
	podFields []podField
}

type podField struct {
	attr string
	get  func(*podcache.Pod) string
}

var podFieldGetters = []podField{
	{attrPodName, func(p *podcache.Pod) string { return p.Name }},
	{attrPodUID, func(p *podcache.Pod) string { return p.UID }},
	{attrPodHostname, func(p *podcache.Pod) string { return p.Hostname }},
	{attrPodStartTime, func(p *podcache.Pod) string { return p.StartTime }},
	{attrNamespaceName, func(p *podcache.Pod) string { return p.Namespace }},
	{attrServiceNamespace, func(p *podcache.Pod) string { return p.Namespace }},
	{attrNodeName, func(p *podcache.Pod) string { return p.NodeName }},
	{attrReplicaSetName, func(p *podcache.Pod) string { return p.ReplicaSetName }},
	{attrReplicaSetUID, func(p *podcache.Pod) string { return p.ReplicaSetUID }},
	{attrStatefulSetName, func(p *podcache.Pod) string { return p.StatefulSetName }},
	{attrStatefulSetUID, func(p *podcache.Pod) string { return p.StatefulSetUID }},
	{attrDaemonSetName, func(p *podcache.Pod) string { return p.DaemonSetName }},
	{attrDaemonSetUID, func(p *podcache.Pod) string { return p.DaemonSetUID }},
	{attrJobName, func(p *podcache.Pod) string { return p.JobName }},
	{attrJobUID, func(p *podcache.Pod) string { return p.JobUID }},
}

func (e *extraction) has(attr string) bool { return e.metadata[attr] }

func compileExtraction(cfg ExtractConfig) *extraction {
	e := &extraction{
		metadata:        map[string]bool{},
		labels:          map[string][]fieldRule{},
		annotations:     map[string][]fieldRule{},
		otelAnnotations: cfg.OtelAnnotations,
	}
	for _, m := range cfg.Metadata {
		e.metadata[m] = true
	}
	for _, f := range podFieldGetters {
		if e.metadata[f.attr] {
			e.podFields = append(e.podFields, f)
		}
	}
	compile := func(rules []FieldExtractConfig, field string, into map[string][]fieldRule) {
		for _, r := range rules {
			from := r.From
			if from == "" {
				from = fromPod
			}
			fr := fieldRule{tagName: r.TagName, key: r.Key, prefix: fieldAttrPrefix(from, field)}
			if r.KeyRegex != "" {
				// Validate has compiled this already.
				fr.regex = regexp.MustCompile(wholeKey(r.KeyRegex))
			}
			into[from] = append(into[from], fr)
		}
	}
	compile(cfg.Labels, fieldLabel, e.labels)
	compile(cfg.Annotations, fieldAnnotation, e.annotations)

	e.preciseDeployment = e.has(attrDeploymentUID) || e.readsFrom(fromDeployment) ||
		(cfg.DeploymentNameFromReplicaSet != nil && !*cfg.DeploymentNameFromReplicaSet)
	e.preciseCronJob = e.has(attrCronJobUID) || e.readsFrom(fromCronJob)
	return e
}

// needs translates the extraction into what the shared cache must keep.
func (e *extraction) needs() podcache.Needs {
	n := podcache.Needs{Objects: map[podcache.Kind]podcache.ObjectNeeds{}}
	keep := func(f *podcache.KeyFilter, rules []fieldRule) {
		for _, r := range rules {
			if r.regex != nil {
				f.Regexes = append(f.Regexes, r.regex)
			} else {
				f.AddKey(r.key)
			}
		}
	}
	keep(&n.Pod.Labels, e.labels[fromPod])
	keep(&n.Pod.Annotations, e.annotations[fromPod])
	n.Pod.Annotations.AddKey(ignoreAnnotation)
	if e.otelAnnotations {
		n.Pod.Annotations.Prefixes = append(n.Pod.Annotations.Prefixes, otelAnnotationPrefix)
	}
	if e.has(attrServiceName) {
		n.Pod.Labels.AddKey(labelAppName)
		n.Pod.Labels.AddKey(labelAppInstance)
	}
	if e.has(attrServiceVersion) {
		n.Pod.Labels.AddKey(labelAppVersion)
	}
	n.Pod.Hostname = e.has(attrPodHostname)
	n.Pod.StartTime = e.has(attrPodStartTime)
	n.Pod.Containers = e.has(attrContainerName) || e.has(attrImageName) || e.has(attrImageTag) || e.has(attrImageTags) ||
		e.has(attrImageRepoDigests) || e.has(attrContainerID) || e.has(attrServiceVersion) || e.has(attrServiceInstanceID)
	n.Pod.RepoDigests = e.has(attrImageRepoDigests)
	n.ClusterUID = e.has(attrClusterUID)

	kinds := map[string]podcache.Kind{
		fromNamespace: podcache.KindNamespace, fromNode: podcache.KindNode, fromDeployment: podcache.KindDeployment,
		fromReplicaSet: podcache.KindReplicaSet, fromStatefulSet: podcache.KindStatefulSet, fromDaemonSet: podcache.KindDaemonSet,
		fromJob: podcache.KindJob, fromCronJob: podcache.KindCronJob,
	}
	for from, kind := range kinds {
		if !e.readsFrom(from) {
			continue
		}
		var on podcache.ObjectNeeds
		keep(&on.Labels, e.labels[from])
		keep(&on.Annotations, e.annotations[from])
		n.Objects[kind] = on
	}
	if e.has(attrNodeUID) {
		if _, ok := n.Objects[podcache.KindNode]; !ok {
			n.Objects[podcache.KindNode] = podcache.ObjectNeeds{}
		}
	}
	// Deployment and CronJob uids, and their labels, are reached through the owner of the
	// ReplicaSet / Job, so those are watched too (metadata only).
	if e.preciseDeployment {
		if _, ok := n.Objects[podcache.KindReplicaSet]; !ok {
			n.Objects[podcache.KindReplicaSet] = podcache.ObjectNeeds{}
		}
	}
	if e.preciseCronJob {
		if _, ok := n.Objects[podcache.KindJob]; !ok {
			n.Objects[podcache.KindJob] = podcache.ObjectNeeds{}
		}
	}
	return n
}

// applyPod adds the pod-level attributes. Existing non-empty attributes are never overwritten.
func (e *extraction) applyPod(c *podcache.Cache, pod *podcache.Pod, attrs pcommon.Map) {
	put := func(attr, v string) {
		if v != "" && e.metadata[attr] {
			putIfAbsent(attrs, attr, v)
		}
	}
	for _, f := range e.podFields {
		if v := f.get(pod); v != "" {
			putIfAbsent(attrs, f.attr, v)
		}
	}
	if ips := pod.IdentifyingIPs(); e.has(attrPodIP) && len(ips) > 0 {
		putIfAbsent(attrs, attrPodIP, ips[0])
	}
	deployment := e.follow(c, deploymentChain, e.preciseDeployment, pod.ReplicaSetUID, pod.DeploymentName)
	put(attrDeploymentName, deployment.name)
	put(attrDeploymentUID, deployment.uid)
	cronJob := e.follow(c, cronJobChain, e.preciseCronJob, pod.JobUID, pod.CronJobName)
	put(attrCronJobName, cronJob.name)
	put(attrCronJobUID, cronJob.uid)
	if e.has(attrClusterUID) {
		put(attrClusterUID, c.ClusterUID())
	}

	e.applyObject(fromReplicaSet, deployment.via, attrs)
	e.applyObject(fromDeployment, deployment.top, attrs)
	e.applyObject(fromJob, cronJob.via, attrs)
	e.applyObject(fromCronJob, cronJob.top, attrs)
	e.applyObject(fromStatefulSet, e.objectIfRead(c, fromStatefulSet, podcache.KindStatefulSet, pod.StatefulSetUID), attrs)
	e.applyObject(fromDaemonSet, e.objectIfRead(c, fromDaemonSet, podcache.KindDaemonSet, pod.DaemonSetUID), attrs)

	for i := range e.labels[fromPod] {
		e.labels[fromPod][i].apply(pod.Labels, attrs)
	}
	if e.has(attrServiceName) {
		// Precedence (highest first): OTel annotation, app.kubernetes.io/instance,
		// app.kubernetes.io/name, workload name, pod name — as contrib.
		if e.otelAnnotations {
			if v := pod.Annotations[otelAnnotationPrefix+attrServiceName]; v != "" {
				putIfAbsent(attrs, attrServiceName, v)
			}
		}
		for _, v := range []string{pod.Labels[labelAppInstance], pod.Labels[labelAppName], cronJob.name, pod.JobName,
			pod.StatefulSetName, pod.DaemonSetName, deployment.name, pod.ReplicaSetName, pod.Name} {
			if v != "" {
				putIfAbsent(attrs, attrServiceName, v)
				break
			}
		}
	}
	if e.has(attrServiceVersion) {
		if v := pod.Labels[labelAppVersion]; v != "" {
			putIfAbsent(attrs, attrServiceVersion, v)
		}
	}
	for i := range e.annotations[fromPod] {
		e.annotations[fromPod][i].apply(pod.Annotations, attrs)
	}
	if e.otelAnnotations {
		for k, v := range pod.Annotations {
			if name, ok := strings.CutPrefix(k, otelAnnotationPrefix); ok && name != "" {
				putIfAbsent(attrs, name, v)
			}
		}
	}
}

// ownerChain is how a pod reaches a workload that owns it through another object: a Deployment
// through the pod's ReplicaSet, a CronJob through its Job.
type ownerChain struct {
	viaFrom string        // extract ... from: value naming the intermediate object
	via     podcache.Kind // the pod's owner: ReplicaSets, Jobs
	topKind string        // the Kubernetes kind in the intermediate object's controller reference
	top     podcache.Kind
}

var (
	deploymentChain = ownerChain{viaFrom: fromReplicaSet, via: podcache.KindReplicaSet, topKind: "Deployment", top: podcache.KindDeployment}
	cronJobChain    = ownerChain{viaFrom: fromJob, via: podcache.KindJob, topKind: "CronJob", top: podcache.KindCronJob}
)

// chainedWorkload is the outcome of following an ownerChain.
type chainedWorkload struct {
	via, top  *podcache.Object // nil when not looked up, not watched or not (yet) in the cache
	name, uid string
}

// follow resolves ch for a pod whose owner has viaUID. Unless precise, the workload's name is the
// one derived from the owner's name and its uid stays unknown; the intermediate object is then
// looked up only when some rule copies its labels or annotations.
func (e *extraction) follow(c *podcache.Cache, ch ownerChain, precise bool, viaUID, derivedName string) chainedWorkload {
	out := chainedWorkload{name: derivedName}
	if viaUID == "" || !(precise || e.readsFrom(ch.viaFrom)) {
		return out
	}
	out.via, _ = c.Object(ch.via, viaUID)
	if precise && out.via != nil && out.via.OwnerKind == ch.topKind {
		out.name, out.uid = out.via.OwnerName, out.via.OwnerUID
		out.top, _ = c.Object(ch.top, out.via.OwnerUID)
	}
	return out
}

// objectIfRead returns the pod's owner of kind (by uid) when some rule copies its labels or annotations.
func (e *extraction) objectIfRead(c *podcache.Cache, from string, kind podcache.Kind, uid string) *podcache.Object {
	if uid == "" || !e.readsFrom(from) {
		return nil
	}
	o, _ := c.Object(kind, uid)
	return o
}

// readsFrom reports whether some extract rule copies labels or annotations of the object from names.
func (e *extraction) readsFrom(from string) bool {
	return len(e.labels[from])+len(e.annotations[from]) > 0
}

func (e *extraction) applyObject(from string, o *podcache.Object, attrs pcommon.Map) {
	if o == nil {
		return
	}
	for i := range e.labels[from] {
		e.labels[from][i].apply(o.Labels, attrs)
	}
	for i := range e.annotations[from] {
		e.annotations[from][i].apply(o.Annotations, attrs)
	}
}

// applyNamespaceAndNode adds namespace and node metadata; it works from the resource's own
// k8s.namespace.name / k8s.node.name when no pod was found.
func (e *extraction) applyNamespaceAndNode(c *podcache.Cache, pod *podcache.Pod, attrs pcommon.Map) {
	ns, node := "", ""
	if pod != nil {
		ns, node = pod.Namespace, pod.NodeName
	} else {
		ns, node = stringAttr(attrs, attrNamespaceName), stringAttr(attrs, attrNodeName)
		if ns != "" && e.has(attrServiceNamespace) {
			putIfAbsent(attrs, attrServiceNamespace, ns)
		}
	}
	if ns != "" {
		if o, ok := c.Object(podcache.KindNamespace, ns); ok {
			e.applyObject(fromNamespace, o, attrs)
		}
	}
	if node != "" {
		if o, ok := c.Object(podcache.KindNode, node); ok {
			e.applyObject(fromNode, o, attrs)
			if e.has(attrNodeUID) && o.UID != "" {
				putIfAbsent(attrs, attrNodeUID, o.UID)
			}
		}
	}
}

// applyContainer adds the container-level attributes for the container the resource names
// (k8s.container.name, else container.id), or the pod's only container.
func (e *extraction) applyContainer(pod *podcache.Pod, attrs pcommon.Map) {
	var c *podcache.Container
	name, id := stringAttr(attrs, attrContainerName), stringAttr(attrs, attrContainerID)
	var ok bool
	switch {
	case name != "":
		c, ok = pod.ContainerByName(name)
	case id != "":
		c, ok = pod.ContainerByID(id)
	case len(pod.Containers) == 1:
		c, ok = &pod.Containers[0], true
	}
	if !ok {
		return
	}
	if e.has(attrContainerName) && c.Name != "" {
		putIfAbsent(attrs, attrContainerName, c.Name)
	}
	if e.has(attrImageName) && c.ImageName != "" {
		putIfAbsent(attrs, attrImageName, c.ImageName)
	}
	if e.has(attrImageTag) && c.ImageTag != "" {
		putIfAbsent(attrs, attrImageTag, c.ImageTag)
	}
	if e.has(attrImageTags) && c.ImageTag != "" {
		if _, found := attrs.Get(attrImageTags); !found {
			attrs.PutEmptySlice(attrImageTags).AppendEmpty().SetStr(c.ImageTag)
		}
	}
	if e.has(attrServiceVersion) && c.ImageTag != "" {
		putIfAbsent(attrs, attrServiceVersion, c.ImageTag)
	}
	if e.has(attrServiceInstanceID) && c.Name != "" {
		putIfAbsent(attrs, attrServiceInstanceID, pod.Namespace+"."+pod.Name+"."+c.Name)
	}
	if e.has(attrContainerID) && c.ID != "" {
		if _, found := attrs.Get(attrContainerID); !found {
			attrs.PutStr(attrContainerID, c.ID)
		}
	}
	if e.has(attrImageRepoDigests) && c.RepoDigest != "" {
		if _, found := attrs.Get(attrImageRepoDigests); !found {
			attrs.PutEmptySlice(attrImageRepoDigests).AppendEmpty().SetStr(c.RepoDigest)
		}
	}
}

// putIfAbsent sets key unless the resource already has a non-empty value (as contrib: data that
// already carries an attribute keeps it).
func putIfAbsent(attrs pcommon.Map, key, val string) {
	if cur, ok := attrs.Get(key); ok && cur.AsString() != "" {
		return
	}
	attrs.PutStr(key, val)
}

func stringAttr(attrs pcommon.Map, key string) string {
	if v, ok := attrs.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}
