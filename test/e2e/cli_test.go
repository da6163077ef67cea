//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// upstreamComponents is the upstream otelcol core distribution plus file_storage and loadbalancing.
var upstreamComponents = map[string][]string{
	"receivers":  {"otlp", "host_metrics", "jaeger", "kafka", "prometheus", "zipkin"},
	"processors": {"batch", "memory_limiter", "attributes", "resource", "span", "probabilistic_sampler", "filter"},
	"exporters": {"debug", "nop", "otlp_grpc", "otlp_http", "file", "kafka", "prometheus",
		"prometheus_remote_write", "zipkin", "load_balancing"},
	"extensions": {"zpages", "health_check", "pprof", "file_storage"},
	"connectors": {"forward"},
}

// ourComponents are the components otelcol-custom adds (the remote-write exporter replaces
// contrib's under the same type, so it is in the upstream list above).
var ourComponents = map[string][]string{
	"receivers":  {"ebpf"},
	"processors": {"k8s_tagging"},
	"extensions": {"memory_admission"},
}

type componentsOutput struct {
	BuildInfo struct {
		Command string `yaml:"command"`
		Version string `yaml:"version"`
	} `yaml:"buildinfo"`
	Receivers  []componentEntry `yaml:"receivers"`
	Processors []componentEntry `yaml:"processors"`
	Exporters  []componentEntry `yaml:"exporters"`
	Extensions []componentEntry `yaml:"extensions"`
	Connectors []componentEntry `yaml:"connectors"`
	Providers  []struct {
		Scheme string `yaml:"scheme"`
	} `yaml:"providers"`
}

type componentEntry struct {
	Name   string `yaml:"name"`
	Module string `yaml:"module"`
}

func TestComponentsListsUpstreamSet(t *testing.T) {
	out, code := runCommand(t, nil, "components")
	require.Equalf(t, 0, code, "components failed:\n%s", out)
	var got componentsOutput
	require.NoError(t, yaml.Unmarshal([]byte(out), &got), out)
	require.Equal(t, "otelcol-custom", got.BuildInfo.Command)

	names := func(es []componentEntry) []string {
		var s []string
		for _, e := range es {
			s = append(s, e.Name)
		}
		return s
	}
	listed := map[string][]string{
		"receivers": names(got.Receivers), "processors": names(got.Processors), "exporters": names(got.Exporters),
		"extensions": names(got.Extensions), "connectors": names(got.Connectors),
	}
	for _, set := range []map[string][]string{upstreamComponents, ourComponents} {
		for kind, want := range set {
			for _, w := range want {
				assert.Containsf(t, listed[kind], w, "%s: %s missing from `components`", kind, w)
			}
		}
	}
	// Our remote-write exporter, not contrib's, answers to prometheus_remote_write.
	for _, e := range got.Exporters {
		if e.Name == "prometheus_remote_write" {
			assert.Contains(t, e.Module, "github.com/otelcol-custom/otelcol-custom")
		}
	}
	var schemes []string
	for _, p := range got.Providers {
		schemes = append(schemes, p.Scheme)
	}
	for _, s := range []string{"env", "file", "http", "https", "yaml", "watchfile"} {
		assert.Containsf(t, schemes, s, "confmap provider %s missing", s)
	}
}

func TestVersion(t *testing.T) {
	out, code := runCommand(t, nil, "--version")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "otelcol-custom version 0.161.0-custom")
}

// Every shipped config validates (deploy roles and the default pipeline), outside any pod: the
// agent's downward-API variable K8S_NODE_NAME (filter.node_from_env_var) is not set, as in a CI
// pipeline that validates configs.
func TestValidateShippedConfigs(t *testing.T) {
	unsetEnv(t, "K8S_NODE_NAME")
	for _, cfg := range proctest.ShippedConfigs(t) {
		rel, _ := filepath.Rel(proctest.RepoPath(t), cfg)
		t.Run(rel, func(t *testing.T) {
			out, code := runCommand(t, nil, "validate", "--config", cfg)
			require.Equalf(t, 0, code, "validate %s:\n%s", cfg, out)
		})
	}
}

// unsetEnv removes name from the environment the binary inherits, for the duration of the test.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the previous value when the test ends
	require.NoError(t, os.Unsetenv(name))
}

// k8s_tagging reads filter.node_from_env_var when it starts: `validate` passes without the
// variable, running the same config fails at start and names the fix.
func TestNodeFromEnvVarValidateAndStart(t *testing.T) {
	unsetEnv(t, "E2E_NODE_NAME")
	cfg := writeFile(t, "agent.yaml", fmt.Sprintf(`
receivers:
  otlp:
    protocols: {grpc: {endpoint: "%s"}}
processors:
  k8s_tagging:
    auth_type: kubeConfig
    filter: {node_from_env_var: E2E_NODE_NAME}
exporters:
  nop: {}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [k8s_tagging], exporters: [nop]}
`, addr(proctest.FreePort(t))))
	out, code := runCommand(t, nil, "validate", "--config", cfg)
	require.Equalf(t, 0, code, "validate without the variable:\n%s", out)

	out, code = runCommand(t, nil, "--config", cfg)
	require.NotEqualf(t, 0, code, "the collector must not start without the node variable:\n%s", out)
	assert.Regexp(t, `filter\.node_from_env_var: environment variable \\?"E2E_NODE_NAME\\?" is not set`, out)
	assert.Contains(t, out, "valueFrom.fieldRef.fieldPath: spec.nodeName")
}

// Old and new spellings of renamed component types are both accepted.
func TestTypeAliases(t *testing.T) {
	cfg := `
receivers:
  hostmetrics:
    scrapers: {load: {}}
  host_metrics/new:
    scrapers: {load: {}}
  otlp:
    protocols: {grpc: {endpoint: "127.0.0.1:0"}}
exporters:
  otlp:
    endpoint: 127.0.0.1:1
  otlp_grpc/new:
    endpoint: 127.0.0.1:1
  otlphttp:
    endpoint: http://127.0.0.1:1
  otlp_http/new:
    endpoint: http://127.0.0.1:1
  prometheusremotewrite:
    endpoint: http://127.0.0.1:1/api/v1/write
  prometheus_remote_write/new:
    endpoint: http://127.0.0.1:1/api/v1/write
  loadbalancing:
    protocol: {otlp: {tls: {insecure: true}}}
    resolver: {static: {hostnames: ["127.0.0.1:1"]}}
  load_balancing/new:
    protocol: {otlp: {tls: {insecure: true}}}
    resolver: {static: {hostnames: ["127.0.0.1:1"]}}
service:
  pipelines:
    metrics:
      receivers: [hostmetrics, host_metrics/new]
      exporters: [otlp, otlp_grpc/new, otlphttp, otlp_http/new, prometheusremotewrite, prometheus_remote_write/new]
    traces:
      receivers: [otlp]
      exporters: [loadbalancing, load_balancing/new]
`
	out, code := runCommand(t, nil, "validate", "--config", writeFile(t, "aliases.yaml", cfg))
	require.Equalf(t, 0, code, "validate:\n%s", out)
}

// --config accepts file:, env:, yaml:, http: URIs, repeated, merged in order; --set overrides.
func TestConfigURIsAndSet(t *testing.T) {
	base := `
receivers:
  otlp:
    protocols: {grpc: {endpoint: "127.0.0.1:0"}}
exporters:
  nop:
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [nop]}
`
	extra := "processors:\n  batch:\n    timeout: 3s\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(extra)) }))
	defer srv.Close()
	file := writeFile(t, "base.yaml", base)

	cases := map[string][]string{
		"file":         {"--config", "file:" + file},
		"bare path":    {"--config", file},
		"env":          {"--config", "env:E2E_CONFIG"},
		"yaml":         {"--config", "file:" + file, "--config", "yaml:processors::batch::timeout: 3s"},
		"http":         {"--config", "file:" + file, "--config", srv.URL},
		"set":          {"--config", file, "--set", "processors::batch::timeout=3s"},
		"feature-gate": {"--config", file, "--feature-gates", "-service.AllowNoPipelines"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			out, code := runCommand(t, []string{"E2E_CONFIG=" + base}, append([]string{"validate"}, args...)...)
			require.Equalf(t, 0, code, "validate %v:\n%s", args, out)
		})
	}

	// print-config shows that merging really happened, and that secrets are redacted.
	secret := "e2e-very-secret-token"
	withSecret := strings.Replace(base, "exporters:\n  nop:\n", "exporters:\n  nop:\n  otlp_http:\n    endpoint: http://127.0.0.1:1\n    headers:\n      Authorization: \"Bearer "+secret+"\"\n", 1)
	out, code := runCommand(t, nil, "print-config",
		"--config", writeFile(t, "secret.yaml", withSecret), "--config", srv.URL)
	require.Equalf(t, 0, code, "print-config:\n%s", out)
	assert.Contains(t, out, "timeout: 3s", "http: config merged")
	assert.NotContains(t, out, secret, "print-config must not reveal header secrets")

	out, code = runCommand(t, nil, "featuregate")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "service.AllowNoPipelines")
}

// Bad input exits non-zero with an upstream-style message and never panics.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name, config string
		want         []string
	}{
		{"unknown component type", "receivers:\n  nosuchreceiver:\nexporters:\n  nop:\nservice:\n  pipelines:\n    traces: {receivers: [nosuchreceiver], exporters: [nop]}\n",
			[]string{"nosuchreceiver", "unknown type"}},
		{"malformed yaml", "receivers: [otlp\n  foo: : :\n", []string{"yaml"}},
		{"wrong field type", "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\nprocessors:\n  batch:\n    send_batch_size: lots\nexporters:\n  nop:\nservice:\n  pipelines:\n    traces: {receivers: [otlp], processors: [batch], exporters: [nop]}\n",
			[]string{"batch", "send_batch_size"}},
		{"unknown key", "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n        no_such_key: 1\nexporters:\n  nop:\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [nop]}\n",
			[]string{"no_such_key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, "bad.yaml", tc.config)
			for _, args := range [][]string{{"validate", "--config", cfg}, {"--config", cfg}} {
				out, code := runCommand(t, nil, args...)
				require.NotEqualf(t, 0, code, "%v should fail:\n%s", args, out)
				require.NotContains(t, out, "panic")
				for _, w := range tc.want {
					require.Containsf(t, out, w, "%v output should name %q:\n%s", args, w, out)
				}
			}
		})
	}
}

// A port already in use is a clear startup error, not a panic or a hang.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	cfg := writeFile(t, "port.yaml", fmt.Sprintf(`
receivers:
  otlp:
    protocols: {grpc: {endpoint: "%s"}}
exporters:
  nop:
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], exporters: [nop]}
`, l.Addr().String()))
	out, code := runCommand(t, nil, "--config", cfg)
	require.NotEqual(t, 0, code, out)
	require.NotContains(t, out, "panic")
	require.Contains(t, out, "address already in use")
	require.Contains(t, out, l.Addr().String())
}

func TestMain(m *testing.M) {
	// Collectors under test must not inherit a user's config or proxy settings.
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		_ = os.Unsetenv(v)
	}
	os.Exit(m.Run())
}
