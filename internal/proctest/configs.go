package proctest

import (
	"os"
	"path/filepath"
	"testing"
)

// ShippedConfigs returns the collector configs the repository ships: the runnable examples in
// testdata/ and the config of each deployment role, deploy/<role>/config.yaml, which its
// kustomization turns into the role's ConfigMap (the only copy of that config).
func ShippedConfigs(t testing.TB) []string {
	t.Helper()
	configs, err := filepath.Glob(RepoPath(t, "testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	roles, err := filepath.Glob(RepoPath(t, "deploy", "*", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range roles {
		// deploy/image/config.yaml is the image's default, not a role's: it has no kustomization.
		if _, err := os.Stat(filepath.Join(filepath.Dir(c), "kustomization.yaml")); err == nil {
			configs = append(configs, c)
		}
	}
	if len(configs) == 0 {
		t.Fatal("no shipped collector configs found under testdata/ and deploy/*/")
	}
	return configs
}
