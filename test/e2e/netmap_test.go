//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/otelcol-custom/otelcol-custom/internal/ebpftest"
	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// netmapWorkloadEnv makes the test binary run a pod's process instead of the tests (see init).
const netmapWorkloadEnv = "OTELCOL_NETMAP_E2E_WORKLOAD"

func init() {
	ebpftest.RunRoleIfChild(netmapWorkloadEnv, func(role string, _ []string) int { return netmapWorkload(role) })
}

// The network of the test: two pods, each a network namespace joined by one veth pair, and a
// Service whose ClusterIP the client's namespace DNATs to the server, as kube-proxy would.
const (
	netmapClientIP  = "10.244.200.10"
	netmapServerIP  = "10.244.200.20"
	netmapClusterIP = "10.96.200.50"
	netmapPort      = 8080 // the server listens here
	netmapSvcPort   = 80   // the Service's port
	netmapClosed    = 8081 // nobody listens here: connects are refused
)

// netmapWorkload runs inside a pod. "server" accepts on netmapPort and reads until EOF. "client"
// reads commands from stdin and answers "ok" to each: `long N` opens a connection to the Service
// and writes N bytes, keeping it open; `close` closes it gracefully; `refuse` connects to the
// closed port (it must be refused); `lossy N` writes N bytes to the server pod directly, closes
// gracefully.
func netmapWorkload(name string) int {
	switch name {
	case "server":
		ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", netmapPort))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("listening")
		for {
			c, err := ln.Accept()
			if err != nil {
				return 1
			}
			go func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() }()
		}
	case "client":
		var long net.Conn
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			f := strings.Fields(in.Text())
			n := 0
			if len(f) > 1 {
				n, _ = strconv.Atoi(f[1])
			}
			var err error
			switch f[0] {
			case "long":
				if long, err = net.Dial("tcp4", net.JoinHostPort(netmapClusterIP, strconv.Itoa(netmapSvcPort))); err == nil {
					_, err = long.Write(make([]byte, n))
				}
			case "close":
				err = closeGracefully(long)
			case "refuse":
				var c net.Conn
				if c, err = net.Dial("tcp4", net.JoinHostPort(netmapServerIP, strconv.Itoa(netmapClosed))); err == nil {
					_ = c.Close()
					err = fmt.Errorf("connect to the closed port succeeded")
				} else {
					err = nil
				}
			case "lossy":
				var c net.Conn
				if c, err = net.Dial("tcp4", net.JoinHostPort(netmapServerIP, strconv.Itoa(netmapPort))); err == nil {
					if _, err = c.Write(make([]byte, n)); err == nil {
						err = closeGracefully(c)
					}
				}
			}
			if err != nil {
				fmt.Println("error:", err)
				continue
			}
			fmt.Println("ok")
		}
		return 0
	}
	return 2
}

// closeGracefully half-closes, waits for the peer's FIN, closes.
func closeGracefully(c net.Conn) error {
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, c)
	return c.Close()
}

// netmapPod is a pod of the test: API object, network namespace and kubelet-shaped cgroup.
type netmapPod struct {
	pod    *corev1.Pod
	netns  string
	veth   string
	cgroup *ebpftest.Cgroup
}

func mustRun(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%v: %s", args, out)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func cgroup2Mount(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mounts")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == "cgroup2" {
			return f[1]
		}
	}
	t.Fatal("no cgroup2 mount in /proc/self/mounts")
	return ""
}

// newNetmapPod registers the pod in the API server and creates its cgroup,
// <root>/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope,
// the layout of a kubelet with the systemd driver, so the receiver derives k8s.pod.uid from it.
func newNetmapPod(t *testing.T, c *k8stest.Cluster, root, ns, deployment, node, ip string) *netmapPod {
	rs := c.CreateReplicaSet(t, ns, deployment)
	cid := randomHex(32)
	pod := c.CreatePod(t, k8stest.PodSpec{Namespace: ns, Name: deployment + "-" + randomHex(3), NodeName: node, OwnerReplicaSet: rs,
		PodIPs: []string{ip}, Containers: []k8stest.ContainerSpec{{Name: "app", ContainerID: cid}}})
	uid := strings.ReplaceAll(string(pod.UID), "-", "_")
	dir := filepath.Join(root, "kubepods.slice", "kubepods-besteffort.slice", "kubepods-besteffort-pod"+uid+".slice",
		"cri-containerd-"+cid+".scope")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return &netmapPod{pod: pod, cgroup: &ebpftest.Cgroup{Dir: dir}}
}

// start runs the test binary as the pod's process: in its network namespace and, from the first
// instruction, its cgroup (clone3 CLONE_INTO_CGROUP of `ip netns exec`, which then execs it).
func (p *netmapPod) start(t *testing.T, workload string) (io.WriteCloser, *bufio.Reader) {
	cmd := ebpftest.RoleCommand(netmapWorkloadEnv, workload, []string{"ip", "netns", "exec", p.netns})
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cgroup.StartIn(cmd))
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return stdin, bufio.NewReader(out)
}

// removeCgroupTree kills what runs in the tree and removes it, deepest first.
func removeCgroupTree(root string) {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		(&ebpftest.Cgroup{Dir: dirs[i]}).Remove()
	}
}

// TestNetworkMapEndToEnd: two pods on two nodes in two zones talk through a Service; the built
// collector (eBPF receiver with tcp.edges → k8s_tagging with network_map → remote write) must put
// each edge with both ends into a real Prometheus — the open connection's bytes before it closes,
// a refused connect, retransmits under induced loss — and every query of the network-map
// dashboard (deploy/dashboards/network-map.json) must return the expected edges. Byte counts are
// TCP payload counted once, so the tolerance is 0 bytes.
func TestNetworkMapEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: BPF programs, network namespaces, cgroups; CI runs the e2e tests as root")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make prereqs` (scripts/prereq-netmap.sh installs iproute2 and iptables)", tool)
		}
	}
	cluster := k8stest.Start(t)
	cx := context.Background()
	for node, zone := range map[string]string{"node-a": "zone-a", "node-b": "zone-b"} {
		cluster.CreateNode(t, node, map[string]string{"topology.kubernetes.io/zone": zone})
	}
	cluster.CreateNamespace(t, "shop", nil)
	cluster.CreateNamespace(t, "backend", nil)
	_, err := cluster.Client().CoreV1().Services("backend").Create(cx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: corev1.ServiceSpec{ClusterIP: netmapClusterIP, Selector: map[string]string{"app": "api"},
			Ports: []corev1.ServicePort{{Port: netmapSvcPort, TargetPort: intstr.FromInt(netmapPort)}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	tag := randomHex(2)
	root := filepath.Join(cgroup2Mount(t), "otelcol-netmap-"+tag)
	t.Cleanup(func() { removeCgroupTree(root) })
	client := newNetmapPod(t, cluster, root, "shop", "web", "node-a", netmapClientIP)
	server := newNetmapPod(t, cluster, root, "backend", "api", "node-b", netmapServerIP)

	// Network: a veth pair between the two namespaces; the Service's ClusterIP is routed on-link and
	// DNATed to the server by the client's namespace (what kube-proxy does), so the client's socket
	// keeps the ClusterIP as its peer and the server's sees the client pod's address.
	client.netns, server.netns = "nm"+tag+"web", "nm"+tag+"api"
	client.veth, server.veth = "nm"+tag+"w0", "nm"+tag+"a0"
	for _, p := range []*netmapPod{client, server} {
		mustRun(t, "ip", "netns", "add", p.netns)
		ns := p.netns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	mustRun(t, "ip", "link", "add", client.veth, "netns", client.netns, "type", "veth", "peer", "name", server.veth, "netns", server.netns)
	for _, p := range []*netmapPod{client, server} {
		mustRun(t, "ip", "-n", p.netns, "addr", "add", p.pod.Status.PodIP+"/24", "dev", p.veth)
		mustRun(t, "ip", "-n", p.netns, "link", "set", p.veth, "up")
		mustRun(t, "ip", "-n", p.netns, "link", "set", "lo", "up")
	}
	mustRun(t, "ip", "-n", client.netns, "route", "add", "10.96.0.0/16", "dev", client.veth)
	mustRun(t, "ip", "netns", "exec", client.netns, "iptables", "-t", "nat", "-A", "OUTPUT", "-d", netmapClusterIP, "-p", "tcp",
		"--dport", strconv.Itoa(netmapSvcPort), "-j", "DNAT", "--to-destination", net.JoinHostPort(netmapServerIP, strconv.Itoa(netmapPort)))

	prom := promtest.Start(t, promtest.Prometheus3)
	promPort := proctest.FreePort(t)
	cfg := writeFile(t, "netmap.yaml", fmt.Sprintf(`
receivers:
  ebpf:
    collection_interval: 1s
    histogram: explicit
    on_start_error: fail
    scheduler: {enabled: false}
    memory: {enabled: false}
    cgroups: {include: ['/otelcol-netmap-%s/kubepods']}
    tcp:
      edges: {enabled: true, max_edges: 1024}
processors:
  k8s_tagging:
    auth_type: kubeConfig
    wait_for_metadata: true
    network_map:
      enabled: true
      cidrs: [{cidr: 192.0.2.0/24, name: partner}]
exporters:
  prometheus_remote_write:
    endpoint: %s
  prometheus:
    endpoint: %s
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [ebpf], processors: [k8s_tagging], exporters: [prometheus_remote_write, prometheus]}
`, tag, prom.WriteURL(), addr(promPort)))
	col := startCollector(t, []string{"KUBECONFIG=" + cluster.KubeconfigPath()}, "--config", cfg)
	col.WaitReady(t, readyTimeout)

	_, serverOut := server.start(t, "server")
	line, err := serverOut.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "listening\n", line)
	in, out := client.start(t, "client")
	do := func(cmd string) {
		t.Helper()
		_, err := io.WriteString(in, cmd+"\n")
		require.NoError(t, err)
		line, err := out.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "ok\n", line, "client command %q", cmd)
	}
	// value polls an instant query at the current time until cond holds.
	value := func(what, promql string, cond func(float64) bool) []promtest.Sample {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		var last []promtest.Sample
		var lastErr error
		for time.Now().Before(deadline) {
			last, lastErr = prom.Query(cx, promql, time.Now())
			if lastErr == nil && len(last) == 1 {
				if v, err := strconv.ParseFloat(last[0].Value, 64); err == nil && cond(v) {
					return last
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
		names, _ := prom.Query(cx, `count by (__name__) ({__name__=~"ebpf_tcp_edge.*"})`, time.Now())
		t.Fatalf("%s: %s: last result %v (err %v); edge metrics in Prometheus: %v", what, promql, last, lastErr, names)
		return nil
	}
	eq := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	webToService := `k8s_src_namespace="shop",k8s_src_owner_name="web",k8s_src_owner_type="Deployment",src_zone="zone-a",` +
		`k8s_dst_namespace="backend",k8s_dst_name="api",k8s_dst_type="Service"`
	webToAPIPods := `k8s_src_namespace="shop",k8s_src_owner_name="web",k8s_src_type="Pod",src_zone="zone-a",` +
		`k8s_dst_namespace="backend",k8s_dst_owner_name="api",k8s_dst_owner_type="Deployment",k8s_dst_type="Pod",dst_zone="zone-b"`

	// A long-lived connection: its bytes must arrive while it is open, on both ends' edges.
	const longBytes = 2_000_000
	do(fmt.Sprintf("long %d", longBytes))
	value("client edge to the Service, bytes before close",
		`sum(ebpf_tcp_edge_io_bytes_total{tcp_connection_side="client",network_io_direction="transmit",`+webToService+`})`, eq(longBytes))
	value("server edge from the client pod, bytes before close",
		`sum(ebpf_tcp_edge_io_bytes_total{tcp_connection_side="server",network_io_direction="receive",`+webToAPIPods+`})`, eq(longBytes))
	value("the long connection is open", `sum(ebpf_tcp_edge_connections_opened_total{tcp_connection_side="client",`+webToService+`})`, eq(1))
	value("the long connection is not closed yet",
		`sum(ebpf_tcp_edge_connections_closed_total{tcp_connection_side="client",`+webToService+`})`, eq(0))

	// Refused connects, two collection intervals apart (the second one is an increase of a series
	// that exists, which rate-based dashboard queries need).
	do("refuse")
	time.Sleep(3 * time.Second)
	do("refuse")
	value("refused connects on the client's edge to the server pod",
		fmt.Sprintf(`sum(ebpf_tcp_edge_connections_failed_total{tcp_connection_side="client",network_peer_port="%d",%s})`, netmapClosed, webToAPIPods), eq(2))

	// Induced loss: the server's namespace drops a fifth of the client's segments. A first
	// transfer without loss makes the edge's series exist (with 0 retransmits) before the loss,
	// as rate-based dashboard queries need.
	const cleanBytes = 10_000
	do(fmt.Sprintf("lossy %d", cleanBytes))
	time.Sleep(3 * time.Second)
	drop := []string{"INPUT", "-p", "tcp", "--dport", strconv.Itoa(netmapPort), "-m", "statistic", "--mode", "random", "--probability", "0.2", "-j", "DROP"}
	mustRun(t, append([]string{"ip", "netns", "exec", server.netns, "iptables", "-A"}, drop...)...)
	const lossyBytes = 1_000_000
	do(fmt.Sprintf("lossy %d", lossyBytes))
	mustRun(t, append([]string{"ip", "netns", "exec", server.netns, "iptables", "-D"}, drop...)...)
	lossy := fmt.Sprintf(`tcp_connection_side="client",network_peer_port="%d",%s`, netmapPort, webToAPIPods)
	value("retransmits under loss", `sum(ebpf_tcp_edge_retransmits_total{`+lossy+`})`, func(v float64) bool { return v > 0 })
	value("bytes under loss counted once", `sum(ebpf_tcp_edge_io_bytes_total{network_io_direction="transmit",`+lossy+`})`,
		eq(cleanBytes+lossyBytes))

	do("close")
	value("the long connection closed", `sum(ebpf_tcp_edge_connections_closed_total{tcp_connection_side="client",`+webToService+`})`, eq(1))
	value("its bytes not counted again at close",
		`sum(ebpf_tcp_edge_io_bytes_total{tcp_connection_side="client",network_io_direction="transmit",`+webToService+`})`, eq(longBytes))

	checkDashboard(t, prom)

	// One edge as the Prometheus endpoint shows it (the README's worked example comes from here).
	_, page := httpGet(t, fmt.Sprintf("http://%s/metrics", addr(promPort)))
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, "ebpf_tcp_edge_io_bytes_total{") && strings.Contains(l, `k8s_src_owner_name="web"`) &&
			!strings.Contains(l, `} 0`) {
			t.Logf("edge on the Prometheus endpoint: %s", l)
		}
	}
}

// checkDashboard runs every query of the network-map dashboard against Prometheus (Grafana's
// $__rate_interval as 1m) and checks that each returns the test's edges.
func checkDashboard(t *testing.T, prom *promtest.Backend) {
	raw, err := os.ReadFile(proctest.RepoPath(t, "deploy", "dashboards", "network-map.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	// What each query must show, by panel title prefix and refId: a label and its value.
	want := map[string][2]string{
		"Edges by bytes/nodes":                  {"id", "shop/web"},
		"Edges by bytes/edges":                  {"id", "shop/web -> backend/api"},
		"Top edges by RTT/A":                    {"k8s_dst_owner_name", "api"},
		"Top edges by retransmitted segments/A": {"k8s_src_owner_name", "web"},
		"Top edges by failed connects/A":        {"network_peer_port", strconv.Itoa(netmapClosed)},
		"Inter-zone bytes/A":                    {"dst_zone", "zone-b"},
	}
	checked := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			key := ""
			for k := range want {
				if strings.HasPrefix(p.Title+"/"+tg.RefID, strings.SplitN(k, "/", 2)[0]) && strings.HasSuffix(k, "/"+tg.RefID) {
					key = k
				}
			}
			require.NotEmpty(t, key, "panel %q query %s has no expectation in the test", p.Title, tg.RefID)
			expr := strings.ReplaceAll(tg.Expr, "$__rate_interval", "1m")
			res, err := prom.Query(context.Background(), expr, time.Now())
			require.NoError(t, err, "panel %q", p.Title)
			label, value := want[key][0], want[key][1]
			found := false
			for _, s := range res {
				found = found || s.Labels[label] == value
			}
			require.True(t, found, "panel %q query %s: no series with %s=%q in %v\nquery: %s", p.Title, tg.RefID, label, value, res, expr)
			checked++
		}
	}
	require.Equal(t, len(want), checked, "every dashboard query checked")
}
