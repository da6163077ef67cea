package deploy_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// TestCollectorListenersBind runs the distribution binary on each embedded config the way its pod
// would: the container's environment, its user, only the capabilities its securityContext adds
// (setpriv), and a network namespace shaped like the pod's (loopback plus the pod IP). It then reads
// the process's listening sockets from /proc: they must be exactly the intended addresses.
//
// A config using k8s_tagging runs against a real API server (internal/k8stest) as the agent's
// service account, with the RBAC from rbac/ applied (auth_type switched from serviceAccount to
// kubeConfig, the only change); it runs in the host network namespace to reach the API server,
// with a pod IP from 127.0.0.0/8. For the agent this also proves that the eBPF receiver starts with
// CAP_BPF and CAP_PERFMON alone.
func TestCollectorListenersBind(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and switch users (CI runs as root)")
	}
	for _, tool := range []string{"unshare", "ip", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make prereqs` (scripts/prereq-deploy.sh installs util-linux and iproute2)", tool)
		}
	}
	bin := collectorBinary(t)
	have := binaryComponents(t, bin)
	ms := allManifests(t)
	var cluster *k8stest.Cluster // shared by the subtests: started on the parent test
	parent := t
	for i, cc := range collectorContainers(t, ms) {
		t.Run(cc.w.name, func(t *testing.T) {
			var missing []string
			for _, section := range []string{"receivers", "processors", "exporters", "extensions"} {
				for id := range mapAt(cc.config, section) {
					typ, _, _ := strings.Cut(id, "/")
					if !have[section+"."+typ] {
						missing = append(missing, section+"."+typ)
					}
				}
			}
			if len(missing) > 0 {
				t.Fatalf("%s not in this build of %s: the shipped manifests need it; wire it into builder-config.yaml and run make generate build", strings.Join(missing, ", "), bin)
			}
			run := collectorRun{cc: cc, bin: bin, podIP: fmt.Sprintf("10.244.77.%d", 10+i)}
			if _, ok := mapAt(cc.config, "processors")["k8s_tagging"]; ok {
				if cluster == nil {
					cluster = k8stest.Start(parent)
					applyRBAC(t, cluster, ms)
				}
				run.kubeconfig = cluster.ServiceAccountKubeconfig(t, cc.w.namespace, cc.w.pod.ServiceAccountName)
				run.hostNetns = true
				run.podIP = randomLoopbackIP()
				// Tagging end to end: the exporter goes to a test sink instead of the load
				// balancer, and a pod on the agent's node sends a span from its pod IP.
				sink := startTraceSink(t)
				run.replace = map[string]string{"otelcol-lb.observability.svc.cluster.local:4317": sink.addr}
				appIP := strings.Replace(randomLoopbackIP(), "127.77.", "127.88.", 1) // never the agent's address
				app := cluster.CreatePod(t, k8stest.PodSpec{Name: "app-" + strings.ReplaceAll(appIP, ".", "-"),
					NodeName: run.cc.env(t, "")["K8S_NODE_NAME"], PodIPs: []string{appIP}, OwnerReplicaSet: cluster.CreateReplicaSet(t, "default", "shop")})
				rc := run.start(t, have)
				if !checkTagging(t, run.podIP, appIP, app, sink) {
					t.Logf("collector output:\n%s", rc.output.String())
				}
			} else {
				run.start(t, have)
			}
			// Each added capability is necessary: without it the collector must refuse to start
			// and name it.
			if sc := cc.c.SecurityContext; sc != nil && sc.Capabilities != nil {
				for _, c := range sc.Capabilities.Add {
					without := run
					without.withoutCap = c
					if without.hostNetns {
						without.podIP = randomLoopbackIP() // the first run still holds its address
					}
					rc := without.launch(t, have)
					select {
					case <-rc.exited:
						if rc.waitErr == nil || !strings.Contains(rc.output.String(), "CAP_"+string(c)) {
							t.Errorf("%s without CAP_%s: exit %v, output does not name CAP_%s:\n%s", cc, c, rc.waitErr, c, rc.output.String())
						}
					case <-time.After(60 * time.Second):
						t.Errorf("%s still runs without CAP_%s: the capability is not needed, drop it from the manifest", cc, c)
					}
				}
			}
		})
	}
}

func randomLoopbackIP() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return fmt.Sprintf("127.77.%d.%d", b[0], 1+b[1]%250)
}

type collectorRun struct {
	cc         collectorContainer
	bin        string
	podIP      string
	hostNetns  bool              // run in the test's network namespace (to reach the API server)
	kubeconfig string            // for k8s_tagging: replaces the pod's service account token
	withoutCap corev1.Capability // run without this capability of the securityContext
	replace    map[string]string // config text replacements, each must occur exactly once
}

// runningCollector is a started collector process.
type runningCollector struct {
	pid     int
	ids     []string // setpriv arguments
	output  *proctest.Buffer
	exited  chan struct{} // closed once reaped
	waitErr error
}

// identity returns setpriv arguments reproducing the container's securityContext: user and group,
// only the added capabilities, no_new_privs when privilege escalation is off.
func (r collectorRun) identity(t *testing.T) (args []string, uid, gid int) {
	t.Helper()
	psc, sc := r.cc.w.pod.SecurityContext, r.cc.c.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if sc == nil {
		t.Fatalf("%s: no securityContext", r.cc)
	}
	pick := func(c, p *int64) int {
		if c != nil {
			return int(*c)
		}
		if p != nil {
			return int(*p)
		}
		return 0
	}
	uid, gid = pick(sc.RunAsUser, psc.RunAsUser), pick(sc.RunAsGroup, psc.RunAsGroup)
	bounding := "-all"
	if sc.Capabilities != nil {
		if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Fatalf("%s: only `drop: [ALL]` is modelled", r.cc)
		}
		for _, c := range sc.Capabilities.Add {
			if c != r.withoutCap {
				bounding += ",+" + strings.ToLower(string(c))
			}
		}
	}
	args = []string{"setpriv", "--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups",
		"--inh-caps=-all", "--bounding-set=" + bounding}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		args = append(args, "--no-new-privs")
	}
	return args, uid, gid
}

// launch starts the collector as its pod would run it and registers its termination.
func (r collectorRun) launch(t *testing.T, have map[string]bool) *runningCollector {
	cc := r.cc
	ids, uid, gid := r.identity(t)
	dir := t.TempDir()
	// The collector runs as the container's user: it must read its config and own its volumes.
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir creates both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	text := cc.text
	for _, vm := range cc.c.VolumeMounts {
		if vm.MountPath == cc.mountPath || vm.ReadOnly {
			continue
		}
		local := filepath.Join(dir, vm.MountPath)
		if err := os.MkdirAll(local, 0o755); err != nil {
			t.Fatal(err)
		}
		group := gid
		if fs := cc.w.pod.SecurityContext; fs != nil && fs.FSGroup != nil {
			group = int(*fs.FSGroup)
		}
		if err := os.Chown(local, uid, group); err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, vm.MountPath, local)
	}
	for from, to := range r.replace {
		if strings.Count(text, from) != 1 {
			t.Fatalf("%s: expected one %q in the config", cc, from)
		}
		text = strings.Replace(text, from, to, 1)
	}
	env := cc.env(t, r.podIP)
	if r.kubeconfig != "" {
		const from, to = "auth_type: serviceAccount", "auth_type: kubeConfig"
		if strings.Count(text, from) != 1 {
			t.Fatalf("%s: expected one %q in the config to switch to %q", cc, from, to)
		}
		text = strings.Replace(text, from, to, 1)
		if err := os.Chmod(r.kubeconfig, 0o644); err != nil {
			t.Fatal(err)
		}
		env["KUBECONFIG"] = r.kubeconfig
	}
	configPath := filepath.Join(dir, cc.key)
	if err := os.WriteFile(configPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	scheme := cc.scheme
	if !have["providers."+scheme] {
		t.Logf("this build has no %q confmap provider yet; loading the config with file: instead", scheme)
		scheme = "file"
	}
	argv := append(ids, "--", r.bin, "--config="+scheme+":"+configPath)
	var cmd *exec.Cmd
	if r.hostNetns {
		cmd = exec.Command(argv[0], argv[1:]...)
	} else {
		quoted := make([]string, len(argv))
		for i, a := range argv {
			quoted[i] = strconv.Quote(a)
		}
		script := fmt.Sprintf("ip link set lo up && ip addr add %s/32 dev lo && exec %s", r.podIP, strings.Join(quoted, " "))
		cmd = exec.Command("unshare", "--net", "--", "sh", "-c", script)
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	rc := &runningCollector{ids: ids, output: &proctest.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = rc.output, rc.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rc.pid = cmd.Process.Pid
	go func() { rc.waitErr = cmd.Wait(); close(rc.exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-rc.pid, syscall.SIGTERM)
		select {
		case <-rc.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-rc.pid, syscall.SIGKILL)
			<-rc.exited
		}
	})
	return rc
}

// start launches the collector and checks that it listens on exactly the intended addresses and
// logs no error.
func (r collectorRun) start(t *testing.T, have map[string]bool) *runningCollector {
	cc := r.cc
	rc := r.launch(t, have)
	output, ids, pid := rc.output, rc.ids, rc.pid

	want := map[string]bool{}
	for _, l := range cc.listeners(t) {
		host := r.podIP
		if l.host == "loopback" {
			host = "127.0.0.1"
		}
		want[net.JoinHostPort(host, strconv.Itoa(int(l.port)))] = true
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-rc.exited:
			t.Fatalf("%s: collector exited: %v\n%s", cc, rc.waitErr, output.String())
		default:
		}
		if containsAll(listeningSockets(t, pid), want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Give late listeners a moment to show up, then compare exactly.
	time.Sleep(time.Second)
	got := listeningSockets(t, pid)
	if !equalSets(got, want) {
		t.Fatalf("%s: listening on %v, want exactly %v\ncollector output:\n%s", cc, keys(got), keys(want), output.String())
	}
	if strings.Contains(output.String(), "\terror\t") {
		t.Errorf("%s: the collector logged errors:\n%s", cc, output.String())
	}
	t.Logf("%s: as %v: listening on %v; idle VmRSS %s (limit %s)", cc, ids[1:], keys(got), vmRSS(pid), cc.c.Resources.Limits.Memory())
	return rc
}

// listeningSockets returns the TCP sockets pid listens on: entries of its network namespace's
// /proc/net/tcp{,6} in LISTEN state whose inode is one of pid's file descriptors.
func listeningSockets(t *testing.T, pid int) map[string]bool {
	t.Helper()
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	out := map[string]bool{}
	for _, f := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A = TCP_LISTEN
				continue
			}
			addr, err := parseProcAddr(fields[1])
			if err != nil {
				t.Fatalf("/proc/%d/net/%s: %v", pid, f, err)
			}
			out[addr] = true
		}
	}
	return out
}
