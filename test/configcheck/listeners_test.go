// Package configcheck checks properties of the configs we ship, without running a collector.
package configcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// A listener may bind to loopback, or to an address the config takes explicitly from the
// environment (the pod IP in Kubernetes); never to all interfaces by default.
var allowedListen = regexp.MustCompile(`^(127\.0\.0\.1|localhost|\[::1\]|\$\{env:[A-Z_]*POD_IP(:-(127\.0\.0\.1|localhost))?\}):`)

// valuesOfKey collects every string value stored under key anywhere below node, keyed by YAML path.
// Under receivers and extensions, `endpoint` is a socket the collector listens on.
func valuesOfKey(node any, key, path string, out map[string]string) {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			p := path + "::" + k
			if s, ok := v.(string); ok && k == key {
				out[p] = s
				continue
			}
			valuesOfKey(v, key, p, out)
		}
	case []any:
		for _, v := range n {
			valuesOfKey(v, key, path+"[]", out)
		}
	}
}

func TestShippedConfigsListenOnLoopback(t *testing.T) {
	for _, path := range proctest.ShippedConfigs(t) {
		rel, _ := filepath.Rel(proctest.RepoPath(t), path)
		t.Run(rel, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			var cfg map[string]any
			require.NoError(t, yaml.Unmarshal(raw, &cfg))
			found := map[string]string{}
			for _, section := range []string{"receivers", "extensions"} {
				valuesOfKey(cfg[section], "endpoint", section, found)
			}
			for p, endpoint := range found {
				require.Regexpf(t, allowedListen, endpoint, "%s: %s listens on %q; bind to 127.0.0.1 or ${env:POD_IP}", path, p, endpoint)
			}
			// The collector's own metrics endpoint, when configured, is loopback too.
			if svc, ok := cfg["service"].(map[string]any); ok {
				found := map[string]string{}
				valuesOfKey(svc["telemetry"], "host", "service::telemetry", found)
				for p, host := range found {
					require.Truef(t, host == "127.0.0.1" || host == "localhost" || strings.Contains(host, "POD_IP"),
						"%s: %s host %q", path, p, host)
				}
			}
		})
	}
}

func TestAllowedListenPattern(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:4317", "localhost:13133", "[::1]:4318", "${env:POD_IP}:4317", "${env:MY_POD_IP}:4317", "${env:POD_IP:-127.0.0.1}:4317"} {
		require.Regexp(t, allowedListen, ok)
	}
	for _, bad := range []string{"0.0.0.0:4317", ":4317", "${env:HOST}:4317", "10.0.0.1:4317"} {
		require.NotRegexp(t, allowedListen, bad)
	}
}
