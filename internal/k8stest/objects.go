package k8stest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

const (
	// PodTemplateHashLabel is the label the Deployment controller puts on its ReplicaSets and pods.
	PodTemplateHashLabel = "pod-template-hash"
	// JobNameLabel is the label the Job controller puts on its pods.
	JobNameLabel = "batch.kubernetes.io/job-name"
	// DefaultImage is used for containers created without an image.
	DefaultImage = "registry.k8s.io/pause:3.10"

	opTimeout = 30 * time.Second
)

// PodSpec describes a pod for CreatePod. Everything but Name is optional.
type PodSpec struct {
	Namespace string // default "default"
	Name      string
	NodeName  string
	// HostIP is the node address in status.hostIP; default derived from NodeName (stable per node).
	HostIP      string
	Labels      map[string]string
	Annotations map[string]string
	// OwnerReplicaSet makes the pod a member of that ReplicaSet (owner reference and its
	// pod-template-hash label), as the Deployment controller would.
	OwnerReplicaSet *appsv1.ReplicaSet
	// OwnerJob is the name of a Job that owns the pod; the Job is created when it does not exist.
	OwnerJob string
	// PodIPs are status.podIPs (the first is status.podIP). Default: one fresh IP from 10.244.0.0/16,
	// or the host IP for HostNetwork pods.
	PodIPs      []string
	HostNetwork bool
	// Containers default to one container "app".
	Containers []ContainerSpec
}

// ContainerSpec describes one container of a PodSpec.
type ContainerSpec struct {
	Name  string
	Image string // default DefaultImage
	// ContainerID goes to status.containerStatuses[].containerID. Default: "containerd://<64 random
	// hex>"; a value without "<runtime>://" gets the containerd:// prefix.
	ContainerID string
}

func ctx(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// CreateNamespace creates a namespace with the given labels.
func (c *Cluster) CreateNamespace(t testing.TB, name string, labels map[string]string) *corev1.Namespace {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	ns, err := c.Client().CoreV1().Namespaces().Create(cx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: create namespace %s: %v", name, err)
	}
	return ns
}

// CreateNode creates a Node object (there is no kubelet behind it) whose InternalIP is the host IP
// that CreatePod derives for pods on that node.
func (c *Cluster) CreateNode(t testing.TB, name string, labels map[string]string) *corev1.Node {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	node, err := c.Client().CoreV1().Nodes().Create(cx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: create node %s: %v", name, err)
	}
	node.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: NodeIP(name)},
		{Type: corev1.NodeHostName, Address: name},
	}
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
	}}
	if node, err = c.Client().CoreV1().Nodes().UpdateStatus(cx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("k8stest: set status of node %s: %v", name, err)
	}
	return node
}

// NodeIP is the address the harness gives a node name: stable, in 172.16.0.0/12.
func NodeIP(nodeName string) string {
	h := fnv.New32a()
	h.Write([]byte(nodeName))
	v := h.Sum32()
	return net.IPv4(172, byte(16+(v>>16)&0x0f), byte(v>>8), byte(1+v%254)).String()
}

// CreateReplicaSet creates the Deployment `deployment` (once) and a new ReplicaSet of it named
// "<deployment>-<hash>" with the pod-template-hash label and a controller owner reference to the
// Deployment, as the Deployment controller would on a rollout.
func (c *Cluster) CreateReplicaSet(t testing.TB, ns, deployment string) *appsv1.ReplicaSet {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	selector := map[string]string{"app": deployment}
	container := []corev1.Container{{Name: "app", Image: DefaultImage}}
	dep, err := c.Client().AppsV1().Deployments(ns).Get(cx, deployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		dep, err = c.Client().AppsV1().Deployments(ns).Create(cx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: deployment, Labels: selector},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: selector},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: selector},
					Spec:       corev1.PodSpec{Containers: container},
				},
			},
		}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("k8stest: deployment %s/%s: %v", ns, deployment, err)
	}
	hash := templateHash()
	labels := map[string]string{"app": deployment, PodTemplateHashLabel: hash}
	replicas := int32(1)
	rs, err := c.Client().AppsV1().ReplicaSets(ns).Create(cx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:   deployment + "-" + hash,
			Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: new(true),
			}},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: container},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: create replicaset for %s/%s: %v", ns, deployment, err)
	}
	return rs
}

// templateHash returns a random 10-character name suffix in the alphabet Kubernetes uses for
// generated names (no vowels, no confusable digits).
func templateHash() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func randomContainerID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "containerd://" + hex.EncodeToString(b)
}

// allocatePodIP hands out 10.244.0.2, 10.244.0.3, ... (never .0, .1 or .255 in the last octet).
func (c *Cluster) allocatePodIP() string {
	c.ipMu.Lock()
	defer c.ipMu.Unlock()
	for {
		n := c.nextIP + 2
		c.nextIP++
		if last := n & 0xff; last > 1 && last < 255 {
			return net.IPv4(10, 244, byte(n>>8), byte(last)).String()
		}
	}
}

// CreatePod creates a pod and then, as a kubelet would, sets its status through the status
// subresource: phase Running, podIP(s), hostIP(s), a running and ready status per container with
// its containerID and imageID.
func (c *Cluster) CreatePod(t testing.TB, spec PodSpec) *corev1.Pod {
	t.Helper()
	if spec.Name == "" {
		t.Fatalf("k8stest: CreatePod: PodSpec.Name is empty")
	}
	if spec.Namespace == "" {
		spec.Namespace = metav1.NamespaceDefault
	}
	cx, cancel := ctx(t)
	defer cancel()

	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: spec.Namespace, Annotations: spec.Annotations},
		Spec: corev1.PodSpec{
			NodeName:      spec.NodeName,
			HostNetwork:   spec.HostNetwork,
			RestartPolicy: corev1.RestartPolicyAlways,
		},
	}
	if rs := spec.OwnerReplicaSet; rs != nil {
		for k, v := range rs.Spec.Template.Labels {
			if _, set := labels[k]; !set {
				labels[k] = v
			}
		}
		pod.OwnerReferences = append(pod.OwnerReferences, metav1.OwnerReference{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: new(true),
		})
	}
	if spec.OwnerJob != "" {
		if spec.OwnerReplicaSet != nil {
			t.Fatalf("k8stest: CreatePod %s: OwnerReplicaSet and OwnerJob are exclusive (one controller)", spec.Name)
		}
		job := c.ensureJob(t, spec.Namespace, spec.OwnerJob)
		for k, v := range job.Spec.Template.Labels {
			if _, set := labels[k]; !set {
				labels[k] = v
			}
		}
		pod.OwnerReferences = append(pod.OwnerReferences, metav1.OwnerReference{
			APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: new(true),
		})
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	pod.Labels = labels
	containers := spec.Containers
	if len(containers) == 0 {
		containers = []ContainerSpec{{Name: "app"}}
	}
	for _, cs := range containers {
		image := cs.Image
		if image == "" {
			image = DefaultImage
		}
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: cs.Name, Image: image})
	}

	created, err := c.Client().CoreV1().Pods(spec.Namespace).Create(cx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: create pod %s/%s: %v", spec.Namespace, spec.Name, err)
	}

	hostIP := spec.HostIP
	if hostIP == "" {
		hostIP = NodeIP(spec.NodeName)
	}
	podIPs := spec.PodIPs
	if len(podIPs) == 0 {
		if spec.HostNetwork {
			podIPs = []string{hostIP}
		} else {
			podIPs = []string{c.allocatePodIP()}
		}
	}
	now := metav1.Now()
	status := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		PodIP:     podIPs[0],
		StartTime: &now,
		QOSClass:  created.Status.QOSClass,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	for _, ip := range podIPs {
		status.PodIPs = append(status.PodIPs, corev1.PodIP{IP: ip})
	}
	for i, cs := range containers {
		id := cs.ContainerID
		switch {
		case id == "":
			id = randomContainerID()
		case !strings.Contains(id, "://"):
			id = "containerd://" + id
		}
		image := pod.Spec.Containers[i].Image
		digest := sha256.Sum256([]byte(image))
		started := true
		status.ContainerStatuses = append(status.ContainerStatuses, corev1.ContainerStatus{
			Name:        cs.Name,
			Image:       image,
			ImageID:     imageRepository(image) + "@sha256:" + hex.EncodeToString(digest[:]),
			ContainerID: id,
			Ready:       true,
			Started:     &started,
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	created.Status = status
	updated, err := c.Client().CoreV1().Pods(spec.Namespace).UpdateStatus(cx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("k8stest: set status of pod %s/%s: %v", spec.Namespace, spec.Name, err)
	}
	return updated
}

// imageRepository strips the tag from an image reference ("repo:tag" → "repo").
func imageRepository(image string) string {
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		return image[:i]
	}
	return image
}

func (c *Cluster) ensureJob(t testing.TB, ns, name string) *batchv1.Job {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	job, err := c.Client().BatchV1().Jobs(ns).Get(cx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		job, err = c.Client().BatchV1().Jobs(ns).Create(cx, &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyNever,
						Containers:    []corev1.Container{{Name: "job", Image: DefaultImage}},
					},
				},
			},
		}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("k8stest: job %s/%s: %v", ns, name, err)
	}
	return job
}

// ServiceAccountUser is the user name Kubernetes gives a service account.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// ServiceAccountToken creates the service account when missing and returns a one-hour token for it
// (TokenRequest API).
func (c *Cluster) ServiceAccountToken(t testing.TB, namespace, name string) string {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	_, err := c.Client().CoreV1().ServiceAccounts(namespace).Create(cx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("k8stest: create service account %s/%s: %v", namespace, name, err)
	}
	seconds := int64(3600)
	tr, err := c.Client().CoreV1().ServiceAccounts(namespace).CreateToken(cx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: token for service account %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// ServiceAccountRESTConfig is a client config authenticated as the service account (created when
// missing).
func (c *Cluster) ServiceAccountRESTConfig(t testing.TB, namespace, name string) *rest.Config {
	t.Helper()
	return c.restConfigWithToken(c.ServiceAccountToken(t, namespace, name))
}

// ServiceAccountKubeconfig writes a kubeconfig authenticated as the service account (created when
// missing) with a TokenRequest token, and returns its path. Its context's namespace is namespace.
func (c *Cluster) ServiceAccountKubeconfig(t testing.TB, namespace, name string) string {
	t.Helper()
	token := c.ServiceAccountToken(t, namespace, name)
	path := filepath.Join(c.dir, fmt.Sprintf("sa-%s-%s.kubeconfig", namespace, name))
	if err := c.writeKubeconfig(path, ServiceAccountUser(namespace, name), token, namespace); err != nil {
		t.Fatalf("k8stest: write kubeconfig for %s/%s: %v", namespace, name, err)
	}
	return path
}

// BindClusterRole creates a ClusterRole with rules and binds it to the service account (which it
// does not create), named "k8stest:<namespace>:<name>". It returns once the RBAC authorizer
// allows the first verb on the first resource of the first rule, so tests do not race its cache.
func (c *Cluster) BindClusterRole(t testing.TB, namespace, serviceAccount string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	name := "k8stest:" + namespace + ":" + serviceAccount
	rbac := c.Client().RbacV1()
	if _, err := rbac.ClusterRoles().Create(cx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("k8stest: create clusterrole %s: %v", name, err)
	}
	if _, err := rbac.ClusterRoleBindings().Create(cx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: serviceAccount}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("k8stest: create clusterrolebinding %s: %v", name, err)
	}
	if len(rules) == 0 || len(rules[0].Verbs) == 0 || len(rules[0].Resources) == 0 {
		return
	}
	attrs := &authorizationv1.ResourceAttributes{Verb: rules[0].Verbs[0], Resource: rules[0].Resources[0]}
	if len(rules[0].APIGroups) > 0 {
		attrs.Group = rules[0].APIGroups[0]
	}
	c.WaitAllowed(t, ServiceAccountUser(namespace, serviceAccount), attrs)
}

// Allowed asks the API server's authorizer (SubjectAccessReview) whether user may do attrs.
// Service-account users get their implied groups.
func (c *Cluster) Allowed(t testing.TB, user string, attrs *authorizationv1.ResourceAttributes) bool {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	spec := authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: attrs}
	if rest, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		ns, _, _ := strings.Cut(rest, ":")
		spec.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	review, err := c.Client().AuthorizationV1().SubjectAccessReviews().Create(cx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: subjectaccessreview for %s: %v", user, err)
	}
	return review.Status.Allowed
}

// WaitAllowed waits until the authorizer allows user to do attrs (RBAC changes take effect after a
// short delay), failing the test after 30 s.
func (c *Cluster) WaitAllowed(t testing.TB, user string, attrs *authorizationv1.ResourceAttributes) {
	t.Helper()
	deadline := time.Now().Add(opTimeout)
	for !c.Allowed(t, user, attrs) {
		if time.Now().After(deadline) {
			t.Fatalf("k8stest: %s still may not %s %s after %v", user, attrs.Verb, attrs.Resource, opTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
