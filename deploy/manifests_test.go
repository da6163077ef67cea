package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// kustomizations are the entry points users apply (`kubectl apply -k`).
var kustomizations = []string{".", "sidecar"}

// manifest is one object from a file listed (directly or through a sub-kustomization) in a
// kustomization.yaml.
type manifest struct {
	file string
	obj  *unstructured.Unstructured
}

func (m manifest) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", m.obj.GetKind(), m.obj.GetNamespace(), m.obj.GetName(), m.file)
}

type kustomization struct {
	Resources          []string             `json:"resources"`
	ConfigMapGenerator []configMapGenerator `json:"configMapGenerator"`
	GeneratorOptions   struct {
		DisableNameSuffixHash bool `json:"disableNameSuffixHash"`
	} `json:"generatorOptions"`
}

// configMapGenerator is the part of kustomize's generator the manifests use: a ConfigMap whose
// keys are files of the kustomization directory (the collector configs, kept as plain files so
// that tests and users read the same file the pods get).
type configMapGenerator struct {
	Name      string   `json:"name"`
	Namespace string   `json:"namespace"`
	Files     []string `json:"files"`
	Options   struct {
		Labels map[string]string `json:"labels"`
	} `json:"options"`
}

// loadKustomization returns the objects of a kustomization directory in the order kustomize lists
// them, following sub-directories. Only `resources` and file-based `configMapGenerator` entries
// with fixed names are supported; the tests fail on anything they do not model.
func loadKustomization(t *testing.T, dir string, seen map[string]bool) []manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatalf("read kustomization: %v", err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &struct {
		kustomization `json:",inline"`
		APIVersion    string `json:"apiVersion"`
		Kind          string `json:"kind"`
		Images        []any  `json:"images"`
	}{}); err != nil {
		t.Fatalf("%s/kustomization.yaml uses fields the tests do not model: %v", dir, err)
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	var out []manifest
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s/kustomization.yaml lists %s: %v", dir, r, err)
		}
		if st.IsDir() {
			out = append(out, loadKustomization(t, p, seen)...)
			continue
		}
		seen[filepath.Clean(p)] = true
		out = append(out, loadManifestFile(t, p)...)
	}
	if len(k.ConfigMapGenerator) > 0 && !k.GeneratorOptions.DisableNameSuffixHash {
		// A hashed name would roll the pods on every edit instead of the in-place reload the
		// collectors are set up for (watchfile:), and the tests would have to model the hash.
		t.Fatalf("%s/kustomization.yaml: configMapGenerator needs generatorOptions.disableNameSuffixHash: true", dir)
	}
	for _, g := range k.ConfigMapGenerator {
		out = append(out, generateConfigMap(t, dir, g, seen))
	}
	return out
}

// generateConfigMap builds the ConfigMap kustomize generates from g: each file under its base name.
func generateConfigMap(t *testing.T, dir string, g configMapGenerator, seen map[string]bool) manifest {
	t.Helper()
	data := map[string]any{}
	for _, f := range g.Files {
		if strings.Contains(f, "=") {
			t.Fatalf("%s/kustomization.yaml: configMapGenerator %s: key=file entries are not modelled, name the file as the key", dir, g.Name)
		}
		p := filepath.Join(dir, f)
		text, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s/kustomization.yaml: configMapGenerator %s: %v", dir, g.Name, err)
		}
		seen[filepath.Clean(p)] = true
		data[filepath.Base(f)] = string(text)
	}
	metadata := map[string]any{"name": g.Name}
	if g.Namespace != "" {
		metadata["namespace"] = g.Namespace
	}
	if len(g.Options.Labels) > 0 {
		labels := map[string]any{}
		for k, v := range g.Options.Labels {
			labels[k] = v
		}
		metadata["labels"] = labels
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   metadata,
		"data":       data,
	}}
	return manifest{file: filepath.Join(dir, "kustomization.yaml"), obj: obj}
}

func loadManifestFile(t *testing.T, path string) []manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeManifests(t, path, data)
}

func decodeManifests(t *testing.T, path string, data []byte) []manifest {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []manifest
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if len(raw) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: raw}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" || obj.GetName() == "" {
			t.Fatalf("%s: document without kind, apiVersion or name: %v", path, raw)
		}
		out = append(out, manifest{file: path, obj: obj})
	}
	return out
}

// allManifests loads every kustomization and fails when a manifest file is not reachable from one
// (it would never be applied).
func allManifests(t *testing.T) []manifest {
	t.Helper()
	seen := map[string]bool{}
	var out []manifest
	for _, k := range kustomizations {
		out = append(out, loadKustomization(t, k, seen)...)
	}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (p == "image" || p == "testdata") {
			return fs.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".yaml") && d.Name() != "kustomization.yaml" && !seen[filepath.Clean(p)] {
			t.Errorf("%s is not listed in any kustomization.yaml", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func convert[T any](t *testing.T, m manifest) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(m.obj.Object, &v, true); err != nil {
		t.Fatalf("%s: %v", m, err)
	}
	return &v
}

// workload is a pod template with where it comes from.
type workload struct {
	m         manifest
	namespace string
	name      string
	labels    map[string]string
	pod       corev1.PodSpec
}

func workloads(t *testing.T, ms []manifest) []workload {
	t.Helper()
	var out []workload
	for _, m := range ms {
		var tmpl corev1.PodTemplateSpec
		switch m.obj.GetKind() {
		case "Deployment":
			tmpl = convert[appsv1.Deployment](t, m).Spec.Template
		case "DaemonSet":
			tmpl = convert[appsv1.DaemonSet](t, m).Spec.Template
		case "StatefulSet":
			tmpl = convert[appsv1.StatefulSet](t, m).Spec.Template
		default:
			continue
		}
		out = append(out, workload{m: m, namespace: m.obj.GetNamespace(), name: m.obj.GetName(), labels: tmpl.Labels, pod: tmpl.Spec})
	}
	return out
}

func find(ms []manifest, kind, namespace, name string) *manifest {
	for i := range ms {
		o := ms[i].obj
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return &ms[i]
		}
	}
	return nil
}

// TestManifestReferences checks that the objects fit together: every namespace, service account,
// ConfigMap, HPA target and Service selector/targetPort refers to something in the manifests.
func TestManifestReferences(t *testing.T) {
	ms := allManifests(t)
	if len(ms) == 0 {
		t.Fatal("no manifests loaded")
	}
	for _, m := range ms {
		if ns := m.obj.GetNamespace(); ns != "" && find(ms, "Namespace", "", ns) == nil {
			t.Errorf("%s: namespace %s is not in the manifests", m, ns)
		}
	}
	wls := workloads(t, ms)
	for _, w := range wls {
		sa := w.pod.ServiceAccountName
		noToken := w.pod.AutomountServiceAccountToken != nil && !*w.pod.AutomountServiceAccountToken
		if sa == "" && !noToken {
			t.Errorf("%s: mounts the token of the default service account (set serviceAccountName or automountServiceAccountToken: false)", w.m)
		} else if sa != "" && find(ms, "ServiceAccount", w.namespace, sa) == nil {
			t.Errorf("%s: service account %s not in the manifests", w.m, sa)
		}
		for _, v := range w.pod.Volumes {
			if v.ConfigMap != nil && find(ms, "ConfigMap", w.namespace, v.ConfigMap.Name) == nil {
				t.Errorf("%s: volume %s uses ConfigMap %s, not in the manifests", w.m, v.Name, v.ConfigMap.Name)
			}
		}
	}
	for _, m := range ms {
		switch m.obj.GetKind() {
		case "HorizontalPodAutoscaler":
			hpa := convert[autoscalingv2.HorizontalPodAutoscaler](t, m)
			ref := hpa.Spec.ScaleTargetRef
			if find(ms, ref.Kind, m.obj.GetNamespace(), ref.Name) == nil {
				t.Errorf("%s: scale target %s %s not in the manifests", m, ref.Kind, ref.Name)
			}
			if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
				t.Errorf("%s: minReplicas below 2 leaves a single point of failure", m)
			}
		case "Service":
			svc := convert[corev1.Service](t, m)
			var matched []workload
			for _, w := range wls {
				if w.namespace == m.obj.GetNamespace() && len(svc.Spec.Selector) > 0 && selects(svc.Spec.Selector, w.labels) {
					matched = append(matched, w)
				}
			}
			if len(matched) != 1 {
				t.Errorf("%s: selector %v matches %d workloads, want exactly 1", m, svc.Spec.Selector, len(matched))
				continue
			}
			for _, p := range svc.Spec.Ports {
				if containerPort(matched[0].pod, p.TargetPort) == nil {
					t.Errorf("%s: port %s targets %s, which no container of %s declares", m, p.Name, p.TargetPort.String(), matched[0].m)
				}
			}
		}
	}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func allContainers(pod corev1.PodSpec) []corev1.Container {
	return slices.Concat(pod.InitContainers, pod.Containers)
}

func containerPort(pod corev1.PodSpec, target intstr.IntOrString) *corev1.ContainerPort {
	for _, c := range allContainers(pod) {
		for i, p := range c.Ports {
			if (target.Type == intstr.String && p.Name == target.StrVal) || (target.Type == intstr.Int && p.ContainerPort == target.IntVal) {
				return &c.Ports[i]
			}
		}
	}
	return nil
}

// TestSecurityContexts pins the security posture of every collector container: nothing privileged,
// all capabilities dropped, read-only root filesystem, non-root except the eBPF agent, which holds
// exactly CAP_BPF and CAP_PERFMON, no host namespaces, host paths read-only.
func TestSecurityContexts(t *testing.T) {
	for _, w := range workloads(t, allManifests(t)) {
		if w.pod.HostPID || w.pod.HostNetwork || w.pod.HostIPC {
			t.Errorf("%s: uses a host namespace", w.m)
		}
		for _, v := range w.pod.Volumes {
			if v.HostPath == nil {
				continue
			}
			if !slices.Contains([]string{"/sys/kernel/btf", "/sys/fs/cgroup"}, v.HostPath.Path) {
				t.Errorf("%s: hostPath %s is not one the eBPF receiver needs", w.m, v.HostPath.Path)
			}
			for _, c := range allContainers(w.pod) {
				for _, vm := range c.VolumeMounts {
					if vm.Name == v.Name && !vm.ReadOnly {
						t.Errorf("%s: container %s mounts hostPath %s writable", w.m, c.Name, v.HostPath.Path)
					}
				}
			}
		}
		for _, c := range allContainers(w.pod) {
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: container %s has no securityContext", w.m, c.Name)
				continue
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: container %s is privileged", w.m, c.Name)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: container %s allows privilege escalation", w.m, c.Name)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: container %s root filesystem is writable", w.m, c.Name)
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("%s: container %s does not drop ALL capabilities", w.m, c.Name)
			}
			var added []corev1.Capability
			if sc.Capabilities != nil {
				added = sc.Capabilities.Add
			}
			isAgent := w.m.obj.GetKind() == "DaemonSet"
			wantAdded := []corev1.Capability(nil)
			if isAgent {
				wantAdded = []corev1.Capability{"BPF", "PERFMON"}
			}
			if !slices.Equal(added, wantAdded) {
				t.Errorf("%s: container %s adds capabilities %v, want %v", w.m, c.Name, added, wantAdded)
			}
			if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
				t.Errorf("%s: container %s lacks a memory limit or cpu/memory requests", w.m, c.Name)
			}
			if !isAgent {
				nonRoot := sc.RunAsNonRoot
				if nonRoot == nil && w.pod.SecurityContext != nil {
					nonRoot = w.pod.SecurityContext.RunAsNonRoot
				}
				if nonRoot == nil || !*nonRoot {
					t.Errorf("%s: container %s may run as root", w.m, c.Name)
				}
			}
		}
	}
}
