// Package k8sbench compares the k8s_tagging processor with contrib's k8sattributes processor
// (v1.0.0, the release of collector-contrib v0.161.0) against the same real kube-apiserver:
// memory after sync and churn, API requests and bytes during start-up and churn, time to sync, and
// tagging cost per resource. Each processor runs in its own child process so memory figures are
// not mixed. The "binary" scenario (binary_bench_test.go) compares the whole collector binaries;
// encodings_bench_test.go measures the pod list in every encoding the API server offers.
//
// Run: bench/k8s/run.sh (sets OTELCOL_K8S_BENCH=1 and the scenario defaults).
package k8sbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	k8sattributes "github.com/open-telemetry/opentelemetry-collector-contrib/processor/k8sattributesprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"
)

const childEnv = "OTELCOL_K8S_BENCH_CHILD"

// The agent scenario runs both processors as a node agent would (filter.node_from_env_var) for
// one of the fixture's 50 nodes.
const agentNodeEnv, agentNode = "K8S_NODE_NAME", "node-07"

// result is what a child reports.
type result struct {
	Name          string  `json:"name"`
	Scenario      string  `json:"scenario"`
	SyncSeconds   float64 `json:"sync_seconds"`
	HeapInuseMiB  float64 `json:"heap_inuse_mib"`   // after sync and GC, minus the child's baseline
	HeapAllocMiB  float64 `json:"heap_alloc_mib"`   // live heap after sync and GC, minus baseline
	RSSMiB        float64 `json:"rss_mib"`          // VmRSS after sync (whole child process)
	BaselineRSS   float64 `json:"baseline_rss_mib"` // VmRSS before the processor was created
	NsPerResource float64 `json:"ns_per_resource"`
	Tagged        float64 `json:"tagged_fraction"`
	APIRequests   int64   `json:"api_requests"`
	APIBytes      int64   `json:"api_bytes"`
	// During the churn phase (pods created and deleted at BENCH_CHURN_RATE/s for
	// BENCH_CHURN_SECONDS after sync).
	ChurnSeconds  float64 `json:"churn_seconds"`
	ChurnEvents   int     `json:"churn_pod_operations"`
	ChurnRequests int64   `json:"churn_api_requests"`
	ChurnBytes    int64   `json:"churn_api_bytes"`

	// Whole-binary runs (scenario "binary"): the peer collector binaries, OTLP in and out.
	FirstTaggedSeconds float64 `json:"first_tagged_seconds,omitempty"` // process start → first fully tagged span at the sink
	PeakRSSMiB         float64 `json:"peak_rss_mib,omitempty"`         // VmHWM after sync (before the load)
	GoHeapMiB          float64 `json:"go_heap_alloc_mib,omitempty"`    // otelcol_process_runtime_heap_alloc_bytes after sync
	SpansPerSecond     float64 `json:"spans_per_second,omitempty"`     // delivered to the sink, tagged
	CPUPerMillion      float64 `json:"cpu_seconds_per_million_spans,omitempty"`
	LoadAPIBytes       int64   `json:"load_api_bytes,omitempty"` // API bytes during the load phase
	// 10 s after the load phase (the same load runs through the binary without the processor).
	RSSAfterLoadMiB       float64 `json:"rss_after_load_mib,omitempty"`
	BaselineRSSAfterLoad  float64 `json:"baseline_rss_after_load_mib,omitempty"`
	HeapAfterLoadMiB      float64 `json:"go_heap_alloc_after_load_mib,omitempty"`
	BaselineHeapAfterLoad float64 `json:"baseline_go_heap_alloc_after_load_mib,omitempty"`

	APILog []apiCall `json:"api_log,omitempty"`
}

func TestCompare(t *testing.T) {
	if os.Getenv("OTELCOL_K8S_BENCH") == "" {
		t.Skip("benchmark: set OTELCOL_K8S_BENCH=1 (bench/k8s/run.sh does) to run; needs `make prereqs` for kube-apiserver")
	}
	pods := envInt("BENCH_PODS", 10000)
	rsCount := envInt("BENCH_REPLICASETS", 1000)
	nsCount := envInt("BENCH_NAMESPACES", 100)

	c := k8stest.Start(t)
	began := time.Now()
	infos := populate(t, c, pods, rsCount, nsCount)
	t.Logf("populated %d pods, %d replicasets, %d namespaces in %s", pods, rsCount, nsCount, time.Since(began).Round(time.Second))
	ips := make([]string, len(infos))
	for i, p := range infos {
		ips[i] = p.IP
	}
	ipFile := filepath.Join(t.TempDir(), "ips")
	require(t, os.WriteFile(ipFile, []byte(strings.Join(ips, "\n")), 0o600))
	// The agent scenario tags data of its own node's pods only.
	var agentIPs []string
	for _, p := range infos {
		if p.Node == agentNode {
			agentIPs = append(agentIPs, p.IP)
		}
	}
	agentIPFile := filepath.Join(t.TempDir(), "agent-ips")
	require(t, os.WriteFile(agentIPFile, []byte(strings.Join(agentIPs, "\n")), 0o600))

	var results []result
	scenarios := []string{"default", "deployment_uid", "three_signals"}
	if v := os.Getenv("BENCH_SCENARIOS"); v != "" {
		scenarios = strings.Split(v, ",")
	}
	var encodings []encodingResult
	if os.Getenv("BENCH_ENCODINGS") != "0" {
		encodings = measureEncodings(t, c)
	}
	for _, scenario := range scenarios {
		if scenario == "binary" {
			results = append(results, runBinaries(t, c, infos)...)
			continue
		}
		file := ipFile
		if scenario == "agent" {
			file = agentIPFile
		}
		for _, r := range runScenario(t, c, scenario, file) {
			results = append(results, r)
			t.Logf("%s/%s: heap %.1f MiB, RSS %.1f MiB, API %d req / %d B, churn %d req / %d B, sync %.2fs, %.0f ns/resource",
				scenario, r.Name, r.HeapInuseMiB, r.RSSMiB, r.APIRequests, r.APIBytes, r.ChurnRequests, r.ChurnBytes, r.SyncSeconds, r.NsPerResource)
		}
	}
	out, _ := json.MarshalIndent(struct {
		Date      string           `json:"date"`
		Pods      int              `json:"pods"`
		Churn     string           `json:"churn"`
		Encodings []encodingResult `json:"pod_list_encodings,omitempty"`
		Results   []result         `json:"results"`
	}{time.Now().UTC().Format(time.RFC3339), pods, fmt.Sprintf("%d pods/s for %d s", churnRate(), churnSeconds()), encodings, results}, "", "  ")
	if path := os.Getenv("BENCH_OUT"); path != "" {
		require(t, os.WriteFile(path, out, 0o644))
	}
	if path := os.Getenv("BENCH_TABLE"); path != "" {
		require(t, os.WriteFile(path, []byte(markdown(results, encodings, fmt.Sprintf("%d pods in %d ReplicaSets across %d namespaces", pods, rsCount, nsCount))), 0o644))
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func require(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// populate creates the namespaces, ReplicaSets (one Deployment each) and pods (with status: IPs
// and container statuses, as a kubelet would set them) with 8 concurrent writers.
func populate(t *testing.T, c *k8stest.Cluster, pods, rsCount, nsCount int) []podInfo {
	for i := range nsCount {
		c.CreateNamespace(t, fmt.Sprintf("ns-%03d", i), map[string]string{"team": fmt.Sprintf("team-%d", i%7)})
	}
	replicaSets := make([]func() k8stest.PodSpec, rsCount)
	var mu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ns := fmt.Sprintf("ns-%03d", i%nsCount)
				rs := c.CreateReplicaSet(t, ns, fmt.Sprintf("app-%04d", i))
				mu.Lock()
				replicaSets[i] = func() k8stest.PodSpec {
					return k8stest.PodSpec{Namespace: ns, OwnerReplicaSet: rs, NodeName: fmt.Sprintf("node-%02d", i%50),
						Labels:      map[string]string{"version": "v1", "tier": "backend"},
						Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 600)},
						Containers:  []k8stest.ContainerSpec{{Name: "app", Image: "registry.example.com/team/app:1.2.3"}, {Name: "sidecar", Image: "envoyproxy/envoy:v1.31"}}}
				}
				mu.Unlock()
			}
		}()
	}
	for i := range rsCount {
		work <- i
	}
	close(work)
	wg.Wait()

	infos := make([]podInfo, pods)
	podWork := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range podWork {
				spec := replicaSets[i%rsCount]()
				spec.Name = fmt.Sprintf("%s-pod-%05d", spec.OwnerReplicaSet.Name, i)
				p := c.CreatePod(t, spec)
				infos[i] = podInfo{IP: p.Status.PodIP, Name: p.Name, Namespace: p.Namespace, UID: string(p.UID),
					Node: p.Spec.NodeName, Deployment: fmt.Sprintf("app-%04d", i%rsCount)}
			}
		}()
	}
	for i := range pods {
		podWork <- i
	}
	close(podWork)
	wg.Wait()
	return infos
}

// podInfo is what the benchmark knows about a populated pod (to check tags).
type podInfo struct {
	IP, Name, Namespace, UID, Node, Deployment string
}

// countingProxy forwards to the API server with the admin token and counts requests and bytes
// sent to the client (the cost the API server pays per collector). It keeps a log of the requests
// (URL, response encoding, bytes) so the results show what each processor asked for.
type countingProxy struct {
	requests, bytes atomic.Int64
	srv             *http.Server
	addr            string
	began           time.Time

	mu  sync.Mutex
	log []*apiCall
}

// apiCall is one request the proxy forwarded.
type apiCall struct {
	AtSeconds       float64 `json:"at_s"` // since the proxy started
	Method          string  `json:"method"`
	URL             string  `json:"url"`
	Status          int     `json:"status"`
	ContentType     string  `json:"content_type"`
	ContentEncoding string  `json:"content_encoding,omitempty"`
	Accept          string  `json:"accept,omitempty"`
	AcceptEncoding  string  `json:"accept_encoding,omitempty"`
	Bytes           int64   `json:"bytes"` // response body bytes as sent (compressed when gzip)
	bytes           atomic.Int64
}

func newCountingProxy(t *testing.T, c *k8stest.Cluster) *countingProxy {
	target, err := url.Parse(c.Host())
	require(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CACertPEM())
	p := &countingProxy{began: time.Now()}
	rp := httputil.NewSingleHostReverseProxy(target)
	// The client's Accept-Encoding is forwarded as sent, so the transport neither adds gzip on its
	// own nor decompresses: what the API server sends is what the client receives.
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	rp.FlushInterval = -1
	token := c.AdminToken()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		call := &apiCall{AtSeconds: time.Since(p.began).Seconds(), Method: r.Method, URL: r.URL.RequestURI(),
			Accept: r.Header.Get("Accept"), AcceptEncoding: r.Header.Get("Accept-Encoding")}
		p.mu.Lock()
		p.log = append(p.log, call)
		p.mu.Unlock()
		r.Header.Set("Authorization", "Bearer "+token)
		rp.ServeHTTP(&countingWriter{ResponseWriter: w, p: p, call: call}, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require(t, err)
	p.addr = ln.Addr().String()
	p.srv = &http.Server{Handler: handler}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

// calls returns the request log with the bytes counted so far.
func (p *countingProxy) calls() []apiCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]apiCall, len(p.log))
	for i, c := range p.log {
		out[i] = apiCall{AtSeconds: c.AtSeconds, Method: c.Method, URL: c.URL, Status: c.Status, ContentType: c.ContentType,
			ContentEncoding: c.ContentEncoding, Accept: c.Accept, AcceptEncoding: c.AcceptEncoding, Bytes: c.bytes.Load()}
	}
	return out
}

// kubeconfig writes a kubeconfig that points at the proxy (which adds the credentials).
func (p *countingProxy) kubeconfig(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require(t, os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "http://%s"}}]
users: [{name: bench, user: {}}]
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
current-context: bench
`, p.addr)), 0o600))
	return path
}

type countingWriter struct {
	http.ResponseWriter
	p    *countingProxy
	call *apiCall
}

func (w *countingWriter) WriteHeader(code int) {
	w.p.mu.Lock()
	w.call.Status = code
	w.call.ContentType = w.Header().Get("Content-Type")
	w.call.ContentEncoding = w.Header().Get("Content-Encoding")
	w.p.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.p.bytes.Add(int64(n))
	w.call.bytes.Add(int64(n))
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// child is one processor running in its own process, behind its own counting proxy.
type child struct {
	name                    string
	cmd                     *exec.Cmd
	stdin                   io.Closer
	stderr                  *bytes.Buffer
	lines                   chan string
	seen                    []string
	proxy                   *countingProxy
	syncedReqs, syncedBytes int64
}

// startChild starts a child and returns once its processor has synced.
func startChild(t *testing.T, c *k8stest.Cluster, name, scenario, ipFile string) *child {
	ch := &child{name: name, proxy: newCountingProxy(t, c), stderr: &bytes.Buffer{}, lines: make(chan string, 16)}
	ch.cmd = exec.Command(os.Args[0], "-test.run", "^TestChild$", "-test.v")
	ch.cmd.Env = append(os.Environ(), childEnv+"="+name, "BENCH_SCENARIO="+scenario, "KUBECONFIG="+ch.proxy.kubeconfig(t),
		"BENCH_IPS="+ipFile, agentNodeEnv+"="+agentNode)
	ch.cmd.Stderr = ch.stderr
	stdout, err := ch.cmd.StdoutPipe()
	require(t, err)
	stdin, err := ch.cmd.StdinPipe()
	require(t, err)
	ch.stdin = stdin
	require(t, ch.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			ch.lines <- sc.Text()
		}
		close(ch.lines)
	}()
	for line := range ch.lines {
		ch.seen = append(ch.seen, line)
		if line == "SYNCED" {
			ch.syncedReqs, ch.syncedBytes = ch.proxy.requests.Load(), ch.proxy.bytes.Load()
			return ch
		}
	}
	ch.fail(t, ch.cmd.Wait())
	return nil
}

func (ch *child) fail(t *testing.T, err error) {
	t.Fatalf("child %s failed: %v\nstdout:\n%s\nstderr:\n%s", ch.name, err, strings.Join(ch.seen, "\n"), tail(ch.stderr.String(), 3000))
}

// finish lets the child measure memory and tagging cost and returns its result.
func (ch *child) finish(t *testing.T) result {
	_ = ch.stdin.Close()
	var r result
	for line := range ch.lines {
		ch.seen = append(ch.seen, line)
		if strings.HasPrefix(line, "RESULT ") {
			require(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "RESULT ")), &r))
		}
	}
	if err := ch.cmd.Wait(); err != nil || r.Name == "" {
		ch.fail(t, err)
	}
	r.APIRequests, r.APIBytes = ch.syncedReqs, ch.syncedBytes
	r.APILog = ch.proxy.calls()
	return r
}

// runScenario starts both processors one after the other (each syncs alone), churns pods once
// while both keep their watches open (so both see exactly the same events), then lets each
// measure memory and tagging cost in turn.
func runScenario(t *testing.T, c *k8stest.Cluster, scenario, ipFile string) []result {
	var children []*child
	for _, name := range []string{"k8sattributes", "k8s_tagging"} {
		children = append(children, startChild(t, c, name, scenario, ipFile))
	}
	before := make([][2]int64, len(children))
	for i, ch := range children {
		before[i] = [2]int64{ch.proxy.requests.Load(), ch.proxy.bytes.Load()}
	}
	began := time.Now()
	ops := churn(t, c, scenario)
	dur := time.Since(began)
	var results []result
	for i, ch := range children {
		reqs, bytes := ch.proxy.requests.Load()-before[i][0], ch.proxy.bytes.Load()-before[i][1]
		r := ch.finish(t)
		r.ChurnSeconds, r.ChurnEvents, r.ChurnRequests, r.ChurnBytes = dur.Seconds(), ops, reqs, bytes
		results = append(results, r)
	}
	return results
}

// churn creates pods at BENCH_CHURN_RATE per second (default 10) for BENCH_CHURN_SECONDS (default
// 60) and deletes each five seconds after its creation; it returns the number of API writes of pods
// (create, status update, delete).
func churn(t *testing.T, c *k8stest.Cluster, tag string) int {
	seconds, rate := churnSeconds(), churnRate()
	if seconds == 0 {
		return 0
	}
	ns := "churn"
	if _, err := c.Client().CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err != nil {
		c.CreateNamespace(t, ns, nil)
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(time.Duration(seconds) * time.Second)
	var pending []string
	var created []time.Time
	ops := 0
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		name := fmt.Sprintf("%s-%06d", strings.ReplaceAll(tag, "_", "-"), i)
		c.CreatePod(t, k8stest.PodSpec{Namespace: ns, Name: name, NodeName: fmt.Sprintf("node-%02d", i%50)})
		ops += 2
		pending, created = append(pending, name), append(created, time.Now())
		for len(pending) > 0 && time.Since(created[0]) > 5*time.Second {
			zero := int64(0)
			require(t, c.Client().CoreV1().Pods(ns).Delete(context.Background(), pending[0], metav1.DeleteOptions{GracePeriodSeconds: &zero}))
			ops++
			pending, created = pending[1:], created[1:]
		}
	}
	for _, name := range pending {
		zero := int64(0)
		require(t, c.Client().CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}))
		ops++
	}
	return ops
}

// churnSeconds is BENCH_CHURN_SECONDS (default 60; 0 turns churn off).
func churnSeconds() int {
	if os.Getenv("BENCH_CHURN_SECONDS") == "0" {
		return 0
	}
	return envInt("BENCH_CHURN_SECONDS", 60)
}

func churnRate() int { return envInt("BENCH_CHURN_RATE", 10) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestChild runs one processor (chosen by the parent) and reports its figures.
func TestChild(t *testing.T) {
	name := os.Getenv(childEnv)
	if name == "" {
		t.Skip("only run as a child of TestCompare")
	}
	scenario := os.Getenv("BENCH_SCENARIO")
	rawIPs, err := os.ReadFile(os.Getenv("BENCH_IPS"))
	require(t, err)
	ips := strings.Split(string(rawIPs), "\n")

	baseRSS := rssMiB()
	baseInuse, baseAlloc := heapAfterGC()

	var f processor.Factory
	var cfg any
	switch name {
	case "k8s_tagging":
		f = k8staggingprocessor.NewFactory()
		c := f.CreateDefaultConfig().(*k8staggingprocessor.Config)
		c.AuthType = k8staggingprocessor.AuthTypeKubeConfig
		c.WaitForMetadata, c.WaitForMetadataTimeout = true, 10*time.Minute
		if scenario == "deployment_uid" {
			c.Extract.Metadata = append(c.Extract.Metadata, "k8s.deployment.uid")
		}
		if scenario == "agent" {
			c.Filter.NodeFromEnvVar = agentNodeEnv
		}
		cfg = c
	case "k8sattributes":
		f = k8sattributes.NewFactory()
		c := f.CreateDefaultConfig().(*k8sattributes.Config)
		c.APIConfig.AuthType = "kubeConfig"
		c.WaitForMetadata, c.WaitForMetadataTimeout = true, 10*time.Minute
		if scenario == "deployment_uid" {
			c.Extract.Metadata = append(c.Extract.Metadata, "k8s.deployment.uid")
		}
		if scenario == "agent" {
			c.Filter.NodeFromEnvVar = agentNodeEnv
		}
		cfg = c
	default:
		t.Fatalf("unknown processor %q", name)
	}
	set := processortest.NewNopSettings(f.Type())
	p, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require(t, err)
	others := []interface {
		Start(context.Context, component.Host) error
		Shutdown(context.Context) error
	}{}
	if scenario == "three_signals" {
		// One processor config used in a traces, a metrics and a logs pipeline (the usual setup).
		mp, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
		require(t, err)
		lp, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
		require(t, err)
		others = append(others, mp, lp)
	}
	start := time.Now()
	require(t, p.Start(context.Background(), componenttest.NewNopHost()))
	for _, o := range others {
		require(t, o.Start(context.Background(), componenttest.NewNopHost()))
	}
	syncSeconds := time.Since(start).Seconds()
	fmt.Println("SYNCED")
	// The parent churns pods now and closes stdin when done; the watches stay open meanwhile.
	_, _ = io.Copy(io.Discard, os.Stdin)

	inuse, alloc := heapAfterGC()
	r := result{Name: name, Scenario: scenario, SyncSeconds: syncSeconds,
		HeapInuseMiB: inuse - baseInuse, HeapAllocMiB: alloc - baseAlloc, RSSMiB: rssMiB(), BaselineRSS: baseRSS}

	// Tagging cost: batches of 100 resources, each naming a random pod by IP (the usual OTLP
	// association). Fresh batches are built off the clock.
	const perBatch, batches, rounds = 100, 200, 5
	rng := rand.New(rand.NewPCG(1, 2))
	var total time.Duration
	var tagged, seen int
	for range rounds {
		in := make([]ptrace.Traces, batches)
		for b := range in {
			td := ptrace.NewTraces()
			for range perBatch {
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("k8s.pod.ip", ips[rng.IntN(len(ips))])
				rs.Resource().Attributes().PutStr("service.name", "svc")
				rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("op")
			}
			in[b] = td
		}
		began := time.Now()
		for _, td := range in {
			require(t, p.ConsumeTraces(context.Background(), td))
		}
		total += time.Since(began)
		for _, td := range in {
			for i := 0; i < td.ResourceSpans().Len(); i++ {
				seen++
				if _, ok := td.ResourceSpans().At(i).Resource().Attributes().Get("k8s.pod.name"); ok {
					tagged++
				}
			}
		}
	}
	r.NsPerResource = float64(total.Nanoseconds()) / float64(perBatch*batches*rounds)
	r.Tagged = float64(tagged) / float64(seen)
	require(t, p.Shutdown(context.Background()))
	for _, o := range others {
		require(t, o.Shutdown(context.Background()))
	}
	out, _ := json.Marshal(r)
	fmt.Println("RESULT " + string(out))
}

func heapAfterGC() (inuseMiB, allocMiB float64) {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20), float64(ms.HeapAlloc) / (1 << 20)
}

func rssMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			kb, _ := strconv.Atoi(fields[1])
			return float64(kb) / 1024
		}
	}
	return 0
}
