package k8stest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestCluster(t *testing.T) {
	c := Start(t)
	bg := context.Background()

	t.Run("version", func(t *testing.T) {
		v, err := c.Client().Discovery().ServerVersion()
		if err != nil {
			t.Fatalf("server version: %v", err)
		}
		if v.GitVersion != KubernetesVersion || v.Major != "1" || v.Minor != "34" {
			t.Fatalf("server version = %+v, want %s (stamped by scripts/prereq-k8s.sh)", v, KubernetesVersion)
		}
	})

	t.Run("objects", func(t *testing.T) {
		c.CreateNamespace(t, "shop", map[string]string{"team": "payments"})
		node := c.CreateNode(t, "node-a", map[string]string{"zone": "z1"})
		if node.Status.Addresses[0].Address != NodeIP("node-a") {
			t.Errorf("node address = %v, want %s", node.Status.Addresses, NodeIP("node-a"))
		}
		rs := c.CreateReplicaSet(t, "shop", "checkout")
		hash := rs.Labels[PodTemplateHashLabel]
		if len(hash) != 10 || rs.Name != "checkout-"+hash {
			t.Fatalf("replicaset name %q, pod-template-hash %q", rs.Name, hash)
		}
		if len(rs.OwnerReferences) != 1 || rs.OwnerReferences[0].Kind != "Deployment" || rs.OwnerReferences[0].Name != "checkout" {
			t.Fatalf("replicaset owners = %+v, want Deployment checkout", rs.OwnerReferences)
		}
		if rs2 := c.CreateReplicaSet(t, "shop", "checkout"); rs2.Name == rs.Name || rs2.OwnerReferences[0].UID != rs.OwnerReferences[0].UID {
			t.Fatalf("second replicaset %s of the same deployment: want a new name and the same owner", rs2.Name)
		}

		cid := strings.Repeat("ab", 32)
		created := c.CreatePod(t, PodSpec{
			Namespace: "shop", Name: "checkout-1", NodeName: "node-a",
			Labels: map[string]string{"tier": "web"}, Annotations: map[string]string{"note": "x"},
			OwnerReplicaSet: rs,
			PodIPs:          []string{"10.1.2.3", "fd00::3"},
			Containers:      []ContainerSpec{{Name: "app", Image: "ghcr.io/shop/checkout:1.2", ContainerID: cid}, {Name: "proxy"}},
		})
		// Read back from the server: the status must have been stored, not just returned.
		pod, err := c.Client().CoreV1().Pods("shop").Get(bg, "checkout-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.UID != created.UID || pod.Status.Phase != corev1.PodRunning {
			t.Errorf("pod uid %s phase %s", pod.UID, pod.Status.Phase)
		}
		if pod.Status.PodIP != "10.1.2.3" || len(pod.Status.PodIPs) != 2 || pod.Status.PodIPs[1].IP != "fd00::3" {
			t.Errorf("pod IPs = %s %v", pod.Status.PodIP, pod.Status.PodIPs)
		}
		if pod.Status.HostIP != NodeIP("node-a") {
			t.Errorf("host IP = %s, want %s", pod.Status.HostIP, NodeIP("node-a"))
		}
		if pod.Labels["tier"] != "web" || pod.Labels[PodTemplateHashLabel] != hash || pod.Labels["app"] != "checkout" || pod.Annotations["note"] != "x" {
			t.Errorf("labels %v annotations %v", pod.Labels, pod.Annotations)
		}
		if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].UID != rs.UID || pod.OwnerReferences[0].Kind != "ReplicaSet" {
			t.Errorf("owners = %+v", pod.OwnerReferences)
		}
		if n := len(pod.Status.ContainerStatuses); n != 2 {
			t.Fatalf("%d container statuses", n)
		}
		app, proxy := pod.Status.ContainerStatuses[0], pod.Status.ContainerStatuses[1]
		if app.ContainerID != "containerd://"+cid || app.Image != "ghcr.io/shop/checkout:1.2" || !strings.HasPrefix(app.ImageID, "ghcr.io/shop/checkout@sha256:") || app.State.Running == nil {
			t.Errorf("app status = %+v", app)
		}
		if id, ok := strings.CutPrefix(proxy.ContainerID, "containerd://"); !ok || len(id) != 64 || id == cid {
			t.Errorf("generated container id %q", proxy.ContainerID)
		}

		hostPod := c.CreatePod(t, PodSpec{Namespace: "shop", Name: "node-exporter", NodeName: "node-a", HostNetwork: true})
		if !hostPod.Spec.HostNetwork || hostPod.Status.PodIP != NodeIP("node-a") {
			t.Errorf("hostNetwork pod: hostNetwork=%v podIP=%s", hostPod.Spec.HostNetwork, hostPod.Status.PodIP)
		}
		a := c.CreatePod(t, PodSpec{Name: "auto-a"})
		b := c.CreatePod(t, PodSpec{Name: "auto-b"})
		if a.Namespace != "default" || a.Status.PodIP == "" || a.Status.PodIP == b.Status.PodIP {
			t.Errorf("allocated pod IPs %s (ns %s) and %s", a.Status.PodIP, a.Namespace, b.Status.PodIP)
		}

		jobPod := c.CreatePod(t, PodSpec{Namespace: "shop", Name: "backup-29000000-x", OwnerJob: "backup-29000000"})
		jobPod2 := c.CreatePod(t, PodSpec{Namespace: "shop", Name: "backup-29000000-y", OwnerJob: "backup-29000000"})
		if len(jobPod.OwnerReferences) != 1 || jobPod.OwnerReferences[0].Kind != "Job" || jobPod.OwnerReferences[0].Name != "backup-29000000" {
			t.Errorf("job pod owners %+v", jobPod.OwnerReferences)
		}
		if jobPod.OwnerReferences[0].UID != jobPod2.OwnerReferences[0].UID || jobPod.Labels[JobNameLabel] != "backup-29000000" {
			t.Errorf("job pods: owners %v / %v, labels %v", jobPod.OwnerReferences, jobPod2.OwnerReferences, jobPod.Labels)
		}
	})

	t.Run("admin kubeconfig", func(t *testing.T) {
		t.Setenv("KUBECONFIG", c.KubeconfigPath())
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Host != c.Host() {
			t.Errorf("kubeconfig host %s, want %s", cfg.Host, c.Host())
		}
		cs := kubernetes.NewForConfigOrDie(cfg)
		if _, err := cs.CoreV1().Secrets("kube-system").List(bg, metav1.ListOptions{}); err != nil {
			t.Errorf("admin cannot list secrets: %v", err)
		}
	})

	t.Run("service account RBAC", func(t *testing.T) {
		c.CreateNamespace(t, "observability", nil)
		c.BindClusterRole(t, "observability", "reader", rbacv1.PolicyRule{
			APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"},
		})
		cfg, err := clientcmd.BuildConfigFromFlags("", c.ServiceAccountKubeconfig(t, "observability", "reader"))
		if err != nil {
			t.Fatal(err)
		}
		reader := kubernetes.NewForConfigOrDie(cfg)
		pods, err := reader.CoreV1().Pods("").List(bg, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("reader lists pods: %d, %v", len(pods.Items), err)
		}
		w, err := reader.CoreV1().Pods("shop").Watch(bg, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("reader watches pods: %v", err)
		}
		w.Stop()
		if _, err := reader.CoreV1().Secrets("").List(bg, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("reader lists secrets: err = %v, want Forbidden", err)
		}
		if _, err := reader.CoreV1().Namespaces().List(bg, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("reader lists namespaces: err = %v, want Forbidden", err)
		}
		pod := pods.Items[0]
		pod.Labels = map[string]string{"changed": "yes"}
		if _, err := reader.CoreV1().Pods(pod.Namespace).Update(bg, &pod, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("reader updates a pod: err = %v, want Forbidden", err)
		}

		nobody, err := clientcmd.BuildConfigFromFlags("", c.ServiceAccountKubeconfig(t, "observability", "nobody"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kubernetes.NewForConfigOrDie(nobody).CoreV1().Pods("").List(bg, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("unbound service account lists pods: err = %v, want Forbidden", err)
		}
	})
}

// TestRestartAndNoLeaks stops and restarts the API server (data kept, same address, old clients
// reconnect), then checks that cleanup left no etcd or kube-apiserver process behind.
func TestRestartAndNoLeaks(t *testing.T) {
	var pids []int
	var etcdDir string
	t.Run("cluster", func(t *testing.T) {
		c := Start(t)
		etcdDir = c.etcdDir
		pids = append(pids, c.etcd.pid(), c.apiserver.pid())
		client := c.Client()
		bg := context.Background()
		c.CreateNamespace(t, "keep", nil)
		c.CreatePod(t, PodSpec{Namespace: "keep", Name: "survivor", PodIPs: []string{"10.9.9.9"}})
		host := c.Host()

		c.StopAPIServer(t)
		if err := syscall.Kill(pids[1], 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kube-apiserver pid %d still exists after StopAPIServer (kill: %v)", pids[1], err)
		}
		quick, cancel := context.WithTimeout(bg, 3*time.Second)
		_, err := client.CoreV1().Pods("keep").Get(quick, "survivor", metav1.GetOptions{})
		cancel()
		if err == nil {
			t.Fatal("request succeeded while kube-apiserver was stopped")
		}

		c.StartAPIServer(t)
		pids = append(pids, c.apiserver.pid())
		if c.Host() != host {
			t.Errorf("host changed across restart: %s → %s", host, c.Host())
		}
		pod, err := client.CoreV1().Pods("keep").Get(bg, "survivor", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod after restart: %v", err)
		}
		if pod.Status.PodIP != "10.9.9.9" {
			t.Errorf("pod status after restart: podIP %q", pod.Status.PodIP)
		}
	})
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after cleanup (kill: %v)", pid, err)
		}
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still has members after cleanup (kill: %v)", pid, err)
		}
	}
	for _, d := range []string{etcdDir, filepath.Dir(etcdDir), filepath.Dir(etcdDir) + ".owner"} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("etcd data %s not removed: %v", d, err)
		}
	}
}

func TestRemoveOrphanedDataDirs(t *testing.T) {
	shm := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for name, pid := range map[string]int{"k8stest-etcd-dead": dead.Process.Pid, "k8stest-etcd-live": os.Getpid()} {
		if err := os.MkdirAll(filepath.Join(shm, name, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shm, name+".owner"), []byte(strconv.Itoa(pid)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removeOrphanedDataDirs(shm)
	if _, err := os.Stat(filepath.Join(shm, "k8stest-etcd-dead")); !os.IsNotExist(err) {
		t.Errorf("data of a dead owner kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(shm, "k8stest-etcd-live", "data")); err != nil {
		t.Errorf("data of a live owner removed: %v", err)
	}
}

// fatalRecorder captures Fatalf instead of failing the real test.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	f.TB.Logf("(captured) %s", f.msg)
	runtime.Goexit()
}

func TestStartWithoutBinaryNamesPrereqs(t *testing.T) {
	t.Setenv("KUBE_APISERVER", "/nonexistent/kube-apiserver")
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(rec)
		t.Error("Start returned without a kube-apiserver binary")
	}()
	<-done
	if !strings.Contains(rec.msg, "make prereqs") || !strings.Contains(rec.msg, "prereq-k8s.sh") || !strings.Contains(rec.msg, "/nonexistent/kube-apiserver") {
		t.Fatalf("Start did not fail naming the binary and `make prereqs`: %q", rec.msg)
	}
}
