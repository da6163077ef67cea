// Package k8stest runs a real Kubernetes API server (etcd + kube-apiserver, no kubelet, no
// controllers) for tests, and offers helpers to create the objects a kubelet and the controllers
// would otherwise create: ReplicaSets with their Deployment, Jobs, pods with their status.
//
// Prerequisites (`make prereqs`, scripts/prereq-k8s.sh): etcd and kube-apiserver binaries built
// once from the module proxy into ${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}
// (etcd-v3.6.4/etcd, kube-apiserver-v1.34.4/kube-apiserver; or named by $ETCD / $KUBE_APISERVER).
// A missing binary fails the test: it never skips.
package k8stest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubernetesVersion is the version of the kube-apiserver the harness runs (scripts/prereq-k8s.sh).
const KubernetesVersion = "v1.34.4"

// AdminUser is the user name behind the admin token; it is in group system:masters.
const AdminUser = "k8stest-admin"

const (
	startAttempts  = 4
	readyTimeout   = 120 * time.Second // the machine running the tests may be loaded
	stopGrace      = 15 * time.Second
	serviceCIDR    = "10.96.0.0/16"
	saIssuer       = "https://kubernetes.default.svc.cluster.local"
	etcdLogName    = "etcd.log"
	apiserverLog   = "kube-apiserver.log"
	prereqsMessage = "run `make prereqs` (scripts/prereq-k8s.sh) to build etcd " + EtcdVersion + " and kube-apiserver " + KubernetesVersion
)

// Cluster is a running etcd + kube-apiserver pair. Its methods are safe for concurrent use, except
// StopAPIServer and StartAPIServer, which must not race with each other.
type Cluster struct {
	dir        string // certificates, tokens, kubeconfigs, logs
	etcdDir    string // etcd data, on tmpfs when available
	apiBinary  string
	etcdBinary string
	etcdURL    string
	port       int // kube-apiserver secure port, kept across restarts
	caPEM      []byte
	adminToken string
	kubeconfig string

	mu        sync.Mutex
	etcd      *process
	apiserver *process

	clientOnce sync.Once
	client     kubernetes.Interface
	clientErr  error

	ipMu   sync.Mutex
	nextIP uint32 // pod IP allocator for pods created without explicit IPs
}

// Start launches etcd and kube-apiserver on free 127.0.0.1 ports in a temporary directory, waits
// until the API server is ready and the default namespace exists, and registers t.Cleanup to stop
// both (process groups are killed; nothing is left running).
func Start(t testing.TB) *Cluster {
	t.Helper()
	apiBinary, err := findKubeAPIServer()
	if err != nil {
		t.Fatalf("k8stest: %v; %s", err, prereqsMessage)
	}
	etcdBinary, err := findEtcd()
	if err != nil {
		t.Fatalf("k8stest: %v; %s", err, prereqsMessage)
	}
	c := &Cluster{dir: t.TempDir(), apiBinary: apiBinary, etcdBinary: etcdBinary}
	c.etcdDir = etcdDataDir(t, c.dir)
	t.Cleanup(func() { c.stopAll(t) })

	if err := c.writeCredentials(); err != nil {
		t.Fatalf("k8stest: prepare credentials: %v", err)
	}
	if err := c.startEtcd(); err != nil {
		t.Fatalf("k8stest: %v\n--- tail of %s ---\n%s", err, filepath.Join(c.dir, etcdLogName), logTail(filepath.Join(c.dir, etcdLogName), 40))
	}
	var lastErr error
	for range startAttempts {
		ports, err := freePorts(1)
		if err != nil {
			t.Fatalf("k8stest: choose a port: %v", err)
		}
		c.port = ports[0]
		if lastErr = c.startAPIServer(); lastErr == nil {
			break
		}
		if !errors.Is(lastErr, errPortInUse) {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("k8stest: %v\n--- tail of %s ---\n%s", lastErr, c.apiserverLogPath(), logTail(c.apiserverLogPath(), 60))
	}
	if err := c.writeKubeconfig(c.kubeconfig, AdminUser, c.adminToken, ""); err != nil {
		t.Fatalf("k8stest: write admin kubeconfig: %v", err)
	}
	if err := c.waitDefaultNamespace(); err != nil {
		t.Fatalf("k8stest: %v", err)
	}
	return c
}

// EtcdVersion is the version of etcd the harness runs (scripts/prereq-k8s.sh): 3.6 has the
// progress notifications kube-apiserver needs to stream lists (WatchList); Debian's 3.4 has not.
const EtcdVersion = "v3.6.4"

// findKubeAPIServer returns $KUBE_APISERVER or the binary scripts/prereq-k8s.sh builds.
func findKubeAPIServer() (string, error) {
	return cachedBinary("KUBE_APISERVER", "kube-apiserver-"+KubernetesVersion, "kube-apiserver")
}

// findEtcd returns $ETCD or the binary scripts/prereq-k8s.sh builds.
func findEtcd() (string, error) {
	return cachedBinary("ETCD", "etcd-"+EtcdVersion, "etcd")
}

// cachedBinary returns $env when set, else dir/name in the prerequisites cache
// (${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}).
func cachedBinary(env, dir, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, p, err)
		}
		return p, nil
	}
	cache := os.Getenv("OTELCOL_CUSTOM_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locate the prerequisites cache: %w", err)
		}
		cache = filepath.Join(home, ".cache", "otelcol-custom")
	}
	p := filepath.Join(cache, dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s binary not found at %s (nor set in $%s)", name, p, env)
	}
	return p, nil
}

// etcdDataDir puts etcd's data on tmpfs when there is one: etcd fsyncs every write and the
// benchmarks create thousands of objects.
// A test binary killed with SIGKILL cannot clean up; its tmpfs directory would hold memory until
// reboot, so Start removes directories whose owner process is gone (owner pid in a file beside).
func etcdDataDir(t testing.TB, fallback string) string {
	const shm = "/dev/shm"
	st, err := os.Stat(shm)
	if err != nil || !st.IsDir() {
		return filepath.Join(fallback, "etcd-data")
	}
	removeOrphanedDataDirs(shm)
	d, err := os.MkdirTemp(shm, "k8stest-etcd-")
	if err != nil {
		return filepath.Join(fallback, "etcd-data")
	}
	if err := os.WriteFile(d+".owner", []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(d)
		return filepath.Join(fallback, "etcd-data")
	}
	t.Cleanup(func() {
		os.RemoveAll(d)
		os.Remove(d + ".owner")
	})
	return d + "/data" // etcd creates it; the parent stays ours when a start is retried
}

func removeOrphanedDataDirs(shm string) {
	owners, _ := filepath.Glob(filepath.Join(shm, "k8stest-etcd-*.owner"))
	for _, owner := range owners {
		data, err := os.ReadFile(owner)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(strings.TrimSuffix(owner, ".owner"))
			os.Remove(owner)
		}
	}
}

func (c *Cluster) apiserverLogPath() string { return filepath.Join(c.dir, apiserverLog) }

func (c *Cluster) startEtcd() error {
	logPath := filepath.Join(c.dir, etcdLogName)
	var err error
	for range startAttempts {
		var ports []int
		if ports, err = freePorts(2); err != nil {
			return err
		}
		client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		if err = os.RemoveAll(c.etcdDir); err != nil {
			return err
		}
		var p *process
		p, err = startProcess("etcd", logPath, c.etcdBinary,
			"--name=k8stest",
			"--data-dir="+c.etcdDir,
			"--listen-client-urls="+client,
			"--advertise-client-urls="+client,
			"--listen-peer-urls="+peer,
			"--initial-advertise-peer-urls="+peer,
			"--initial-cluster=k8stest="+peer,
			"--initial-cluster-state=new",
			"--log-level=warn",
			"--logger=zap",
		)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.etcd = p
		c.mu.Unlock()
		if err = waitEtcdHealthy(p, client+"/health"); err == nil {
			c.etcdURL = client
			return nil
		}
		_ = p.stop(stopGrace)
		if !errors.Is(err, errPortInUse) {
			return err
		}
	}
	return err
}

func waitEtcdHealthy(p *process, url string) error {
	httpClient := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		if p.exited() {
			if logShowsPortInUse(p.logPath) {
				return errPortInUse
			}
			return fmt.Errorf("etcd exited during start-up: %v", p.waitErr)
		}
		resp, err := httpClient.Get(url)
		if err == nil {
			var health struct {
				Health string `json:"health"`
			}
			decodeErr := json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			if decodeErr == nil && health.Health == "true" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not healthy at %s after %v", url, readyTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Cluster) apiserverArgs() []string {
	return []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.port),
		"--tls-cert-file=" + filepath.Join(c.dir, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(c.dir, "serving.key"),
		"--token-auth-file=" + filepath.Join(c.dir, "tokens.csv"),
		"--service-account-issuer=" + saIssuer,
		"--service-account-key-file=" + filepath.Join(c.dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(c.dir, "sa.key"),
		"--api-audiences=" + saIssuer,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=" + serviceCIDR,
		// No controllers run: the `kubernetes` Service endpoints and the ServiceAccount admission
		// (which waits for a `default` service account a controller would create) are turned off.
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1",
	}
}

// startAPIServer starts kube-apiserver on c.port and waits for /readyz.
func (c *Cluster) startAPIServer() error {
	p, err := startProcess("kube-apiserver", c.apiserverLogPath(), c.apiBinary, c.apiserverArgs()...)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.apiserver = p
	c.mu.Unlock()
	if err := c.waitReady(p); err != nil {
		_ = p.stop(stopGrace)
		return err
	}
	return nil
}

func (c *Cluster) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.caPEM)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

func (c *Cluster) waitReady(p *process) error {
	httpClient := c.httpClient()
	defer httpClient.CloseIdleConnections()
	url := c.Host() + "/readyz"
	deadline := time.Now().Add(readyTimeout)
	lastStatus := "no answer"
	for {
		if p.exited() {
			if logShowsPortInUse(p.logPath) {
				return errPortInUse
			}
			return fmt.Errorf("kube-apiserver exited during start-up: %v", p.waitErr)
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+c.adminToken)
		resp, err := httpClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastStatus = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			lastStatus = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready at %s after %v (last: %s)", url, readyTimeout, lastStatus)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitDefaultNamespace waits for the API server's bootstrap controller to create the system
// namespaces; pods in "default" are rejected until then.
func (c *Cluster) waitDefaultNamespace() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for {
		_, err := c.Client().CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("namespace %q not created by kube-apiserver: %w", metav1.NamespaceDefault, err)
		}
		if apierrors.IsNotFound(err) {
			_, _ = c.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: metav1.NamespaceDefault}}, metav1.CreateOptions{})
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Cluster) stopAll(t testing.TB) {
	c.mu.Lock()
	api, etcd := c.apiserver, c.etcd
	c.mu.Unlock()
	if t.Failed() && api != nil {
		t.Logf("k8stest: tail of %s:\n%s", api.logPath, logTail(api.logPath, 30))
	}
	if api != nil {
		if err := api.stop(stopGrace); err != nil {
			t.Errorf("k8stest: %v", err)
		}
	}
	if etcd != nil {
		if err := etcd.stop(stopGrace); err != nil {
			t.Errorf("k8stest: %v", err)
		}
	}
}

// Host is the API server URL, https://127.0.0.1:<port>.
func (c *Cluster) Host() string { return "https://127.0.0.1:" + strconv.Itoa(c.port) }

// CACertPEM is the CA that signed the API server's serving certificate.
func (c *Cluster) CACertPEM() []byte { return append([]byte(nil), c.caPEM...) }

// AdminToken is the static bearer token of AdminUser (group system:masters).
func (c *Cluster) AdminToken() string { return c.adminToken }

// Dir is the directory holding the certificates, kubeconfigs and process logs.
func (c *Cluster) Dir() string { return c.dir }

// RESTConfig returns a new admin config (static token, group system:masters) with client-side
// rate limits high enough for tests that create thousands of objects.
func (c *Cluster) RESTConfig() *rest.Config {
	return c.restConfigWithToken(c.adminToken)
}

func (c *Cluster) restConfigWithToken(token string) *rest.Config {
	return &rest.Config{
		Host:            c.Host(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CACertPEM()},
		QPS:             1000,
		Burst:           2000,
		Timeout:         30 * time.Second,
	}
}

// Client returns an admin clientset (shared by all callers).
func (c *Cluster) Client() kubernetes.Interface {
	c.clientOnce.Do(func() { c.client, c.clientErr = kubernetes.NewForConfig(c.RESTConfig()) })
	if c.clientErr != nil {
		// NewForConfig fails only on a malformed config, which the harness builds itself.
		panic(fmt.Sprintf("k8stest: admin client: %v", c.clientErr))
	}
	return c.client
}

// KubeconfigPath is a kubeconfig file for the admin user, for code that loads KUBECONFIG (such as
// auth_type kubeConfig).
func (c *Cluster) KubeconfigPath() string { return c.kubeconfig }

// StopAPIServer stops kube-apiserver only; etcd keeps the data. Clients see connection errors until
// StartAPIServer.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	api := c.apiserver
	c.mu.Unlock()
	if api == nil || api.exited() {
		t.Fatalf("k8stest: StopAPIServer: kube-apiserver is not running")
	}
	if err := api.stop(stopGrace); err != nil {
		t.Fatalf("k8stest: StopAPIServer: %v", err)
	}
}

// StartAPIServer starts kube-apiserver again on the same port (so existing clients reconnect) and
// waits until it is ready.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	api := c.apiserver
	c.mu.Unlock()
	if api != nil && !api.exited() {
		t.Fatalf("k8stest: StartAPIServer: kube-apiserver is already running")
	}
	// The port was ours a moment ago; if something grabbed it meanwhile, wait a little for it.
	var err error
	for range startAttempts {
		if err = c.startAPIServer(); err == nil || !errors.Is(err, errPortInUse) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("k8stest: StartAPIServer on port %d: %v\n--- tail of %s ---\n%s", c.port, err, c.apiserverLogPath(), logTail(c.apiserverLogPath(), 60))
	}
}

// writeKubeconfig writes a kubeconfig with the cluster CA and a bearer token.
func (c *Cluster) writeKubeconfig(path, user, token, namespace string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["k8stest"] = &clientcmdapi.Cluster{Server: c.Host(), CertificateAuthorityData: c.CACertPEM()}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["k8stest"] = &clientcmdapi.Context{Cluster: "k8stest", AuthInfo: user, Namespace: namespace}
	cfg.CurrentContext = "k8stest"
	return clientcmd.WriteToFile(*cfg, path)
}
