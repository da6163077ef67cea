package deploy_test

import (
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// collectorContainer is a collector container of a workload with the configuration it loads.
type collectorContainer struct {
	w         workload
	c         corev1.Container
	scheme    string // confmap scheme in --config (watchfile, file)
	mountPath string // where the ConfigMap is mounted
	key       string // ConfigMap key holding the config
	text      string // the config as written in the ConfigMap
	config    map[string]any
}

func (cc collectorContainer) String() string {
	return fmt.Sprintf("%s container %s", cc.w.m, cc.c.Name)
}

var configArg = regexp.MustCompile(`^--config=([a-z]+):(/.+)$`)

// collectorContainers finds every container started with --config=<scheme>:<path> and resolves the
// path through its volume mounts to a ConfigMap key of the manifests.
func collectorContainers(t *testing.T, ms []manifest) []collectorContainer {
	t.Helper()
	var out []collectorContainer
	for _, w := range workloads(t, ms) {
		for _, c := range allContainers(w.pod) {
			var scheme, file string
			for _, a := range c.Args {
				if m := configArg.FindStringSubmatch(a); m != nil {
					scheme, file = m[1], m[2]
				}
			}
			if file == "" {
				continue
			}
			cc := collectorContainer{w: w, c: c, scheme: scheme}
			for _, vm := range c.VolumeMounts {
				if path.Dir(file) != vm.MountPath {
					continue
				}
				for _, v := range w.pod.Volumes {
					if v.Name != vm.Name || v.ConfigMap == nil {
						continue
					}
					if vm.SubPath != "" {
						t.Errorf("%s: ConfigMap mounted with subPath: edits never reach the pod, hot reload cannot work", cc)
					}
					cm := find(ms, "ConfigMap", w.namespace, v.ConfigMap.Name)
					if cm == nil {
						t.Fatalf("%s: ConfigMap %s not in the manifests", cc, v.ConfigMap.Name)
					}
					cc.mountPath, cc.key = vm.MountPath, path.Base(file)
					text, found, _ := unstructuredString(cm.obj.Object, "data", cc.key)
					if !found {
						t.Fatalf("%s: ConfigMap %s has no key %s", cc, v.ConfigMap.Name, cc.key)
					}
					cc.text = text
				}
			}
			if cc.text == "" {
				t.Fatalf("%s: --config=%s:%s is not a mounted ConfigMap key", cc, scheme, file)
			}
			if err := yaml.UnmarshalStrict([]byte(cc.text), &cc.config); err != nil {
				t.Fatalf("%s: config is not valid YAML: %v", cc, err)
			}
			out = append(out, cc)
		}
	}
	return out
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		if cur, ok = m[f]; !ok {
			return "", false, nil
		}
	}
	s, ok := cur.(string)
	return s, ok, nil
}

func mapAt(v any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	m, _ := v.(map[string]any)
	return m
}

func strings_(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// listener is an address a config makes the collector listen on.
type listener struct {
	what string // e.g. "receivers.otlp.protocols.grpc"
	host string // "podIP" or "loopback"
	port int32
}

var envRef = regexp.MustCompile(`^\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}$`)

// resolveHost classifies a listener host: an env var from the downward API's status.podIP, or a
// loopback literal. Anything else (empty = all interfaces, 0.0.0.0, a name) is an error.
func resolveHost(c corev1.Container, host string) (string, error) {
	switch host {
	case "127.0.0.1", "localhost", "::1":
		return "loopback", nil
	}
	m := envRef.FindStringSubmatch(host)
	if m == nil {
		return "", fmt.Errorf("host %q is neither the pod IP from the downward API nor loopback", host)
	}
	for _, e := range c.Env {
		if e.Name == m[1] {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP" {
				return "podIP", nil
			}
			return "", fmt.Errorf("host %q: env %s is not the downward API's status.podIP", host, m[1])
		}
	}
	return "", fmt.Errorf("host %q: env %s is not set in the container", host, m[1])
}

func splitEndpoint(endpoint string) (string, int32, error) {
	i := strings.LastIndexByte(endpoint, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("endpoint %q has no port", endpoint)
	}
	port, err := strconv.ParseInt(endpoint[i+1:], 10, 32)
	if err != nil {
		return "", 0, fmt.Errorf("endpoint %q: port: %v", endpoint, err)
	}
	return endpoint[:i], int32(port), nil
}

// listeners lists every listening address in a collector config: receiver protocols, receivers and
// extensions with an endpoint, and the self-telemetry Prometheus reader.
func (cc collectorContainer) listeners(t *testing.T) []listener {
	t.Helper()
	var out []listener
	add := func(what, endpoint string) {
		host, port, err := splitEndpoint(endpoint)
		if err != nil {
			t.Errorf("%s: %s: %v", cc, what, err)
			return
		}
		kind, err := resolveHost(cc.c, host)
		if err != nil {
			t.Errorf("%s: %s: %v", cc, what, err)
			return
		}
		out = append(out, listener{what: what, host: kind, port: port})
	}
	for _, section := range []string{"receivers", "extensions"} {
		for id, cfg := range mapAt(cc.config, section) {
			if ep, ok := mapAt(cfg)["endpoint"].(string); ok {
				add(section+"."+id, ep)
			}
			for proto, pcfg := range mapAt(cfg, "protocols") {
				if ep, ok := mapAt(pcfg)["endpoint"].(string); ok {
					add(section+"."+id+".protocols."+proto, ep)
				} else {
					t.Errorf("%s: %s.%s.protocols.%s has no explicit endpoint (the default may not be where intended)", cc, section, id, proto)
				}
			}
		}
	}
	readers, _ := mapAt(cc.config, "service", "telemetry", "metrics")["readers"].([]any)
	for i, r := range readers {
		prom := mapAt(r, "pull", "exporter", "prometheus")
		if prom == nil {
			continue
		}
		host, _ := prom["host"].(string)
		port, _ := prom["port"].(float64)
		add(fmt.Sprintf("service.telemetry.metrics.readers[%d]", i), fmt.Sprintf("%s:%d", host, int(port)))
	}
	if len(readers) == 0 {
		t.Errorf("%s: no explicit self-telemetry reader: the default listens on a fixed address", cc)
	}
	return out
}

// TestCollectorConfigs checks each collector configuration embedded in a ConfigMap against the
// container that loads it: valid YAML, every component defined and used, memory_limiter first,
// GOMEMLIMIT matching the memory limit share, every listener on the pod IP or loopback, every port
// a listener on the pod IP declared (and the reverse), probes on the health check.
func TestCollectorConfigs(t *testing.T) {
	ccs := collectorContainers(t, allManifests(t))
	if len(ccs) < 4 {
		t.Fatalf("found %d collector containers, want agent, load balancer, gateway and sidecar", len(ccs))
	}
	for _, cc := range ccs {
		t.Run(cc.w.name, func(t *testing.T) {
			checkComponents(t, cc)
			checkMemory(t, cc)
			checkListeners(t, cc)
		})
	}
}

func checkComponents(t *testing.T, cc collectorContainer) {
	for k := range cc.config {
		if !slices.Contains([]string{"receivers", "processors", "exporters", "extensions", "connectors", "service"}, k) {
			t.Errorf("%s: unknown top-level key %q", cc, k)
		}
	}
	used := map[string]bool{}
	for _, e := range strings_(mapAt(cc.config, "service")["extensions"]) {
		used["extensions."+e] = true
	}
	pipelines := mapAt(cc.config, "service", "pipelines")
	if len(pipelines) == 0 {
		t.Fatalf("%s: no pipelines", cc)
	}
	for name, p := range pipelines {
		for _, section := range []string{"receivers", "processors", "exporters"} {
			ids := strings_(mapAt(p)[section])
			if section != "processors" && len(ids) == 0 {
				t.Errorf("%s: pipeline %s has no %s", cc, name, section)
			}
			for _, id := range ids {
				used[section+"."+id] = true
			}
			if section == "processors" && (len(ids) == 0 || ids[0] != "memory_limiter") {
				t.Errorf("%s: pipeline %s: memory_limiter must be the first processor, got %v", cc, name, ids)
			}
		}
	}
	for _, section := range []string{"receivers", "processors", "exporters", "extensions"} {
		for id := range mapAt(cc.config, section) {
			if !used[section+"."+id] {
				t.Errorf("%s: %s.%s is defined but not used", cc, section, id)
			}
			delete(used, section+"."+id)
		}
	}
	for ref := range used {
		t.Errorf("%s: %s is used but not defined", cc, ref)
	}
}

func checkMemory(t *testing.T, cc collectorContainer) {
	ml := mapAt(cc.config, "processors", "memory_limiter")
	pct, ok := ml["limit_percentage"].(float64)
	spike, ok2 := ml["spike_limit_percentage"].(float64)
	if !ok || !ok2 || ml["limit_mib"] != nil {
		t.Fatalf("%s: memory_limiter must use limit_percentage/spike_limit_percentage (follows the container limit), got %v", cc, ml)
	}
	if pct <= spike || pct > 90 {
		t.Errorf("%s: memory_limiter limit_percentage %v / spike %v", cc, pct, spike)
	}
	limit := cc.c.Resources.Limits.Memory()
	var gomemlimit string
	for _, e := range cc.c.Env {
		if e.Name == "GOMEMLIMIT" {
			gomemlimit = e.Value
		}
	}
	if gomemlimit == "" || limit.IsZero() {
		t.Fatalf("%s: GOMEMLIMIT %q, memory limit %v: both must be set", cc, gomemlimit, limit)
	}
	// Go accepts B, KiB, MiB, GiB; Kubernetes quantities use Ki, Mi, Gi.
	q, err := resource.ParseQuantity(strings.TrimSuffix(gomemlimit, "B"))
	if err != nil {
		t.Fatalf("%s: GOMEMLIMIT %q: %v", cc, gomemlimit, err)
	}
	share := float64(q.Value()) / float64(limit.Value()) * 100
	if math.Abs(share-pct) > 1 {
		t.Errorf("%s: GOMEMLIMIT %s is %.1f%% of the %s limit; memory_limiter uses %v%%", cc, gomemlimit, share, limit, pct)
	}
	checkAdmission(t, cc, (pct-spike)/pct*100)
}

// checkAdmission: every OTLP listener refuses data before reading it through memory_admission,
// which acts below memory_limiter's soft limit (softShare, in % of GOMEMLIMIT), and the largest
// request a listener accepts is what memory_admission reserves per request.
func checkAdmission(t *testing.T, cc collectorContainer, softShare float64) {
	adm := mapAt(cc.config, "extensions", "memory_admission")
	admPct, ok := adm["limit_percentage"].(float64)
	reserve, ok2 := adm["request_reserve_mib"].(float64)
	if !ok || !ok2 {
		t.Fatalf("%s: extensions.memory_admission must set limit_percentage (of GOMEMLIMIT) and request_reserve_mib, got %v", cc, adm)
	}
	if admPct >= softShare {
		t.Errorf("%s: memory_admission limit_percentage %v%% of GOMEMLIMIT must be below memory_limiter's soft limit (%.0f%% of GOMEMLIMIT), "+
			"so data is refused before it is decoded", cc, admPct, softShare)
	}
	protocols := mapAt(cc.config, "receivers", "otlp", "protocols")
	if len(protocols) == 0 {
		t.Fatalf("%s: no OTLP receiver", cc)
	}
	for name, proto := range protocols {
		p := mapAt(proto)
		var ids []string
		middlewares, _ := p["middlewares"].([]any)
		for _, m := range middlewares {
			ids = append(ids, fmt.Sprint(mapAt(m)["id"]))
		}
		if !slices.Contains(ids, "memory_admission") {
			t.Errorf("%s: otlp %s: middlewares %v must include memory_admission", cc, name, ids)
		}
		switch name {
		case "grpc":
			if p["max_recv_msg_size_mib"] != reserve {
				t.Errorf("%s: otlp grpc max_recv_msg_size_mib %v, memory_admission reserves %v MiB per request", cc, p["max_recv_msg_size_mib"], reserve)
			}
		case "http":
			if p["max_request_body_size"] != reserve*(1<<20) {
				t.Errorf("%s: otlp http max_request_body_size %v, memory_admission reserves %v MiB per request", cc, p["max_request_body_size"], reserve)
			}
		}
	}
}

func checkListeners(t *testing.T, cc collectorContainer) {
	ls := cc.listeners(t)
	if len(ls) == 0 {
		t.Fatalf("%s: no listeners", cc)
	}
	byPort := map[int32]listener{}
	for _, l := range ls {
		if prev, dup := byPort[l.port]; dup {
			t.Errorf("%s: port %d used by %s and %s", cc, l.port, prev.what, l.what)
		}
		byPort[l.port] = l
		declared := slices.ContainsFunc(cc.c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == l.port })
		if l.host == "podIP" && !declared {
			t.Errorf("%s: %s listens on the pod IP port %d, which the container does not declare", cc, l.what, l.port)
		}
		if l.host == "loopback" && declared {
			t.Errorf("%s: port %d is declared but %s listens on loopback only: unreachable", cc, l.port, l.what)
		}
	}
	for _, p := range cc.c.Ports {
		if l, ok := byPort[p.ContainerPort]; !ok || l.host != "podIP" {
			t.Errorf("%s: declared port %s/%d has no pod-IP listener", cc, p.Name, p.ContainerPort)
		}
	}
	var health *listener
	for _, l := range ls {
		if strings.HasPrefix(l.what, "extensions.health_check") {
			health = &l
		}
	}
	probes := map[string]*corev1.Probe{"readiness": cc.c.ReadinessProbe, "liveness": cc.c.LivenessProbe, "startup": cc.c.StartupProbe}
	probed := false
	for kind, p := range probes {
		if p == nil {
			continue
		}
		probed = true
		if p.HTTPGet == nil {
			t.Errorf("%s: %s probe is not an HTTP probe of health_check", cc, kind)
			continue
		}
		port := p.HTTPGet.Port
		cp := containerPort(corev1.PodSpec{Containers: []corev1.Container{cc.c}}, port)
		if health == nil || cp == nil || cp.ContainerPort != health.port || health.host != "podIP" {
			t.Errorf("%s: %s probe port %s is not health_check on the pod IP (the kubelet probes the pod IP)", cc, kind, port.String())
		}
	}
	if !probed {
		t.Errorf("%s: no probes", cc)
	}
}

// env is the container's environment as the kubelet would set it, with podIP for status.podIP.
func (cc collectorContainer) env(t *testing.T, podIP string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range cc.c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			values := map[string]string{"status.podIP": podIP, "spec.nodeName": "node-test", "metadata.name": cc.w.name + "-0",
				"metadata.namespace": cc.w.namespace, "metadata.uid": "00000000-0000-0000-0000-000000000001"}
			v, ok := values[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("%s: env %s from %s: no test value", cc, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			out[e.Name] = v
		default:
			t.Fatalf("%s: env %s: only values and fieldRefs are modelled", cc, e.Name)
		}
	}
	return out
}

// collectorBinary is the distribution binary built by `make build`.
func collectorBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OTELCOL_CUSTOM_BINARY")
	if p == "" {
		p = filepath.Join("..", "_build", "otelcol-custom")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("collector binary %s missing (run `make build`, or set OTELCOL_CUSTOM_BINARY): %v", abs, err)
	}
	return abs
}

// binaryComponents lists "kind.type" of what the binary contains, and its confmap schemes.
func binaryComponents(t *testing.T, bin string) map[string]bool {
	t.Helper()
	out, err := exec.Command(bin, "components").Output()
	if err != nil {
		t.Fatalf("%s components: %v", bin, err)
	}
	var list map[string]any
	if err := yaml.Unmarshal(out, &list); err != nil {
		t.Fatalf("%s components output: %v", bin, err)
	}
	have := map[string]bool{}
	for kind, v := range list {
		entries, _ := v.([]any) // buildinfo is a map
		for _, x := range entries {
			e, _ := x.(map[string]any)
			if n, ok := e["name"].(string); ok {
				have[kind+"."+n] = true
			}
			if s, ok := e["scheme"].(string); ok {
				have[kind+"."+s] = true
			}
		}
	}
	return have
}

// parseProcAddr decodes "0100007F:10E1" (IPv4 or IPv6 words in host byte order, port in hex).
func parseProcAddr(s string) (string, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 { // each 32-bit word is little-endian
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return "", fmt.Errorf("bad port in %q", s)
	}
	return net.JoinHostPort(net.IP(raw).String(), strconv.Itoa(int(port))), nil
}

func vmRSS(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func containsAll(got, want map[string]bool) bool {
	for k := range want {
		if !got[k] {
			return false
		}
	}
	return true
}

func equalSets(a, b map[string]bool) bool { return len(a) == len(b) && containsAll(a, b) }

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
