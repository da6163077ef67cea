package deploy_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
)

// warningRecorder keeps the API server's warnings (Pod Security "warn" level, deprecations).
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, msg string) {
	w.mu.Lock()
	w.msgs = append(w.msgs, msg)
	w.mu.Unlock()
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

type applier struct {
	dyn      dynamic.Interface
	mapper   meta.RESTMapper
	warnings *warningRecorder
}

func newApplier(t *testing.T, c *k8stest.Cluster) *applier {
	t.Helper()
	cfg := c.RESTConfig()
	rec := &warningRecorder{}
	cfg.WarningHandlerWithContext = rec
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	return &applier{dyn: dyn, mapper: mapper, warnings: rec}
}

// create sends obj to the API server with strict field validation (unknown or duplicate fields are
// errors, as kubectl --validate=strict), as a dry run or for real.
func (a *applier) create(obj *unstructured.Unstructured, dryRun bool) error {
	gvk := obj.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("no API for %s: %w", gvk, err)
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			return fmt.Errorf("%s %s is namespaced but has no namespace", gvk.Kind, obj.GetName())
		}
		ri = a.dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	}
	opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Create(context.Background(), obj.DeepCopy(), opts)
	return err
}

// TestManifestsServerSideDryRun sends every manifest to a real kube-apiserver as a dry run with
// strict field validation, then a Pod made from each workload's template (so Pod Security admission
// judges it against its namespace's level), then applies everything for real.
func TestManifestsServerSideDryRun(t *testing.T) {
	ms := allManifests(t)
	c := k8stest.Start(t)
	a := newApplier(t, c)

	// Namespaced objects can only be dry-run in an existing namespace: namespaces go first, for real.
	for _, m := range ms {
		if m.obj.GetKind() != "Namespace" {
			continue
		}
		if err := a.create(m.obj, true); err != nil {
			t.Fatalf("dry run %s: %v", m, err)
		}
		if err := a.create(m.obj, false); err != nil {
			t.Fatalf("create %s: %v", m, err)
		}
	}
	for _, m := range ms {
		if m.obj.GetKind() == "Namespace" {
			continue
		}
		if err := a.create(m.obj, true); err != nil {
			t.Errorf("dry run %s: %v", m, err)
		}
		checkWarnings(t, m, a.warnings.take())
	}

	// Pod Security admission enforces on pods only; workloads merely get warnings.
	for _, w := range workloads(t, ms) {
		pod := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: w.name + "-dryrun", Namespace: w.namespace, Labels: w.labels},
			Spec:       w.pod,
		}
		raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pod)
		if err != nil {
			t.Fatal(err)
		}
		err = a.create(&unstructured.Unstructured{Object: raw}, true)
		if err != nil {
			t.Errorf("pod of %s rejected (Pod Security level of namespace %s?): %v", w.m, w.namespace, err)
		}
		checkWarnings(t, w.m, a.warnings.take())
	}

	// The restricted namespaces must really reject what the agent does (so the level is enforced,
	// not just declared).
	var agent *workload
	for _, w := range workloads(t, ms) {
		if w.m.obj.GetKind() == "DaemonSet" {
			agent = &w
		}
	}
	if agent == nil {
		t.Fatal("no agent DaemonSet in the manifests")
	}
	misplaced := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "agent-in-restricted", Namespace: "observability"},
		Spec:       *agent.pod.DeepCopy(),
	}
	misplaced.Spec.ServiceAccountName = ""
	raw, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(misplaced)
	if err := a.create(&unstructured.Unstructured{Object: raw}, true); !apierrors.IsForbidden(err) {
		t.Errorf("agent pod in the restricted namespace: err = %v, want Forbidden by Pod Security", err)
	}
	a.warnings.take()

	for _, m := range ms {
		if m.obj.GetKind() == "Namespace" {
			continue
		}
		if err := a.create(m.obj, false); err != nil {
			t.Errorf("create %s: %v", m, err)
		}
	}
}

// agentBaselineViolations are the only Pod Security "baseline" violations the agent may have: its
// two capabilities and its two read-only host paths. Its namespace warns at baseline, so the API
// server reports them; anything else reported is a regression.
var agentBaselineViolations = []string{
	`non-default capabilities (container "otelcol" must not include "BPF", "PERFMON" in securityContext.capabilities.add)`,
	`hostPath volumes (volumes "btf", "cgroup")`,
}

// checkWarnings fails on any API server warning except the agent's expected baseline violations.
func checkWarnings(t *testing.T, m manifest, warnings []string) {
	t.Helper()
	for _, msg := range warnings {
		if m.obj.GetNamespace() == agentNamespace {
			if rest, ok := strings.CutPrefix(msg, `would violate PodSecurity "baseline:latest": `); ok {
				if rest == strings.Join(agentBaselineViolations, ", ") {
					continue
				}
			}
		}
		t.Errorf("%s: API server warning: %s", m, msg)
	}
}

const (
	agentNamespace      = "observability-agent"
	agentServiceAccount = "otelcol-agent"
)

// agentNeeds is what the k8s_tagging processor reads (processor/k8staggingprocessor): pods of its
// node, namespace and node metadata, ReplicaSets for ReplicaSet fields.
var agentNeeds = []authorizationv1.ResourceAttributes{}

func init() {
	for _, r := range []struct{ group, resource string }{{"", "pods"}, {"", "namespaces"}, {"", "nodes"}, {"apps", "replicasets"}} {
		for _, verb := range []string{"get", "list", "watch"} {
			agentNeeds = append(agentNeeds, authorizationv1.ResourceAttributes{Group: r.group, Resource: r.resource, Verb: verb})
		}
	}
}

// agentMustNot is a sample of what an attacker holding the agent's token would want.
var agentMustNot = []authorizationv1.ResourceAttributes{
	{Resource: "secrets", Verb: "list"},
	{Resource: "secrets", Verb: "get", Namespace: "kube-system"},
	{Resource: "configmaps", Verb: "get"},
	{Resource: "pods", Verb: "create"},
	{Resource: "pods", Verb: "update"},
	{Resource: "pods", Verb: "patch"},
	{Resource: "pods", Verb: "delete"},
	{Resource: "pods", Subresource: "exec", Verb: "create"},
	{Resource: "pods", Subresource: "log", Verb: "get"},
	{Resource: "pods", Subresource: "status", Verb: "update"},
	{Resource: "nodes", Verb: "update"},
	{Resource: "nodes", Subresource: "proxy", Verb: "get"},
	{Resource: "namespaces", Verb: "delete"},
	{Resource: "serviceaccounts", Subresource: "token", Verb: "create"},
	{Resource: "events", Verb: "create"},
	{Group: "apps", Resource: "deployments", Verb: "list"},
	{Group: "apps", Resource: "replicasets", Verb: "update"},
	{Group: "apps", Resource: "daemonsets", Verb: "list"},
	{Group: "batch", Resource: "jobs", Verb: "list"},
	{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Verb: "escalate"},
	{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Verb: "create"},
	{Resource: "users", Verb: "impersonate"},
	{Resource: "serviceaccounts", Verb: "impersonate"},
}

// applyRBAC creates the namespaces, service accounts and RBAC objects of the manifests and waits
// until the authorizer lets the agent list pods.
func applyRBAC(t *testing.T, c *k8stest.Cluster, ms []manifest) {
	t.Helper()
	a := newApplier(t, c)
	for _, kinds := range [][]string{{"Namespace"}, {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}} {
		for _, m := range ms {
			if slices.Contains(kinds, m.obj.GetKind()) {
				if err := a.create(m.obj, false); err != nil {
					t.Fatalf("create %s: %v", m, err)
				}
			}
		}
	}
	c.WaitAllowed(t, k8stest.ServiceAccountUser(agentNamespace, agentServiceAccount), &agentNeeds[0])
}

// TestAgentServiceAccountLeastPrivilege applies the RBAC manifests and, impersonating the agent's
// service account, checks with SelfSubjectAccessReview that it may do everything k8s_tagging needs
// and with SelfSubjectRulesReview that it may do nothing more; then a real token of the account
// lists its node's pods and is refused secrets.
func TestAgentServiceAccountLeastPrivilege(t *testing.T) {
	c := k8stest.Start(t)
	applyRBAC(t, c, allManifests(t))
	user := k8stest.ServiceAccountUser(agentNamespace, agentServiceAccount)

	impersonating := c.RESTConfig()
	impersonating.Impersonate = rest.ImpersonationConfig{UserName: user}
	as := kubernetes.NewForConfigOrDie(impersonating)
	bg := context.Background()
	allowed := func(attrs authorizationv1.ResourceAttributes) bool {
		t.Helper()
		r, err := as.AuthorizationV1().SelfSubjectAccessReviews().Create(bg, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectAccessReview as %s: %v", user, err)
		}
		return r.Status.Allowed
	}
	for _, attrs := range agentNeeds {
		for _, ns := range []string{"", "default", "kube-system"} {
			attrs.Namespace = ns
			if attrs.Resource != "pods" && attrs.Resource != "replicasets" && ns != "" {
				continue // cluster-scoped resources
			}
			if !allowed(attrs) {
				t.Errorf("agent may not %s %s/%s in namespace %q; k8s_tagging needs it", attrs.Verb, attrs.Group, attrs.Resource, ns)
			}
		}
	}
	for _, attrs := range agentMustNot {
		if allowed(attrs) {
			t.Errorf("agent may %s %s/%s %s in namespace %q; it must not", attrs.Verb, attrs.Group, attrs.Resource, attrs.Subresource, attrs.Namespace)
		}
	}

	// "Nothing more": the full rule list in a namespace, minus what every authenticated user gets
	// (system:basic-user, system:discovery, system:public-info-viewer), is exactly the ClusterRole.
	rules, err := as.AuthorizationV1().SelfSubjectRulesReviews().Create(bg, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "default"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rules.Status.Incomplete {
		t.Fatalf("rules review incomplete: %s", rules.Status.EvaluationError)
	}
	var got []string
	for _, r := range rules.Status.ResourceRules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if g == "authorization.k8s.io" || g == "authentication.k8s.io" {
					continue // self-review APIs of system:basic-user
				}
				for _, v := range r.Verbs {
					got = append(got, fmt.Sprintf("%s/%s:%s%v", g, res, v, r.ResourceNames))
				}
			}
		}
	}
	var want []string
	for _, n := range agentNeeds {
		want = append(want, fmt.Sprintf("%s/%s:%s[]", n.Group, n.Resource, n.Verb))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("agent's resource rules:\n got %v\nwant %v", got, want)
	}

	// A real token of the account, used the way the agent uses it.
	c.CreateNode(t, "node-a", nil)
	c.CreatePod(t, k8stest.PodSpec{Name: "on-a", NodeName: "node-a"})
	c.CreatePod(t, k8stest.PodSpec{Name: "on-b", NodeName: "node-b"})
	agent := kubernetes.NewForConfigOrDie(c.ServiceAccountRESTConfig(t, agentNamespace, agentServiceAccount))
	pods, err := agent.CoreV1().Pods("").List(bg, metav1.ListOptions{FieldSelector: "spec.nodeName=node-a"})
	if err != nil {
		t.Fatalf("agent lists its node's pods: %v", err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Name != "on-a" {
		t.Errorf("agent's node-scoped list returned %d pods", len(pods.Items))
	}
	w, err := agent.CoreV1().Pods("").Watch(bg, metav1.ListOptions{FieldSelector: "spec.nodeName=node-a"})
	if err != nil {
		t.Fatalf("agent watches its node's pods: %v", err)
	}
	w.Stop()
	if _, err := agent.CoreV1().Nodes().Get(bg, "node-a", metav1.GetOptions{}); err != nil {
		t.Errorf("agent gets its node: %v", err)
	}
	if _, err := agent.AppsV1().ReplicaSets("").List(bg, metav1.ListOptions{}); err != nil {
		t.Errorf("agent lists replicasets: %v", err)
	}
	if _, err := agent.CoreV1().Secrets("").List(bg, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("agent lists secrets: err = %v, want Forbidden", err)
	}
	if err := agent.CoreV1().Pods("default").Delete(bg, "on-a", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("agent deletes a pod: err = %v, want Forbidden", err)
	}
}
