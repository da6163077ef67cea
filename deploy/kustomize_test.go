package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const kustomizeVersion = "v5.8.2" // scripts/prereq-deploy.sh

func kustomizeBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KUSTOMIZE"); p != "" {
		return p
	}
	cache := os.Getenv("OTELCOL_CUSTOM_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "otelcol-custom")
	}
	p := filepath.Join(cache, "kustomize-"+kustomizeVersion, "kustomize")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kustomize not found at %s (nor $KUSTOMIZE): run `make prereqs` (scripts/prereq-deploy.sh)", p)
	}
	return p
}

// TestKustomizeBuild renders each kustomization with kustomize and checks that the output is
// exactly the objects the other tests validate (same set, same content), so `kubectl apply -k`
// applies what was dry-run against the API server.
func TestKustomizeBuild(t *testing.T) {
	bin := kustomizeBinary(t)
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			out, err := exec.Command(bin, "build", dir).Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr)
			}
			rendered := decodeManifests(t, "kustomize build "+dir, out)
			loaded := loadKustomization(t, dir, map[string]bool{})
			if len(rendered) != len(loaded) {
				t.Fatalf("kustomize renders %d objects, the tests load %d", len(rendered), len(loaded))
			}
			for _, want := range loaded {
				got := find(rendered, want.obj.GetKind(), want.obj.GetNamespace(), want.obj.GetName())
				if got == nil {
					t.Errorf("%s missing from the kustomize output", want)
					continue
				}
				g, _ := json.Marshal(got.obj.Object)
				w, _ := json.Marshal(want.obj.Object)
				if string(g) != string(w) {
					t.Errorf("%s differs after kustomize:\n got %s\nwant %s", want, g, w)
				}
			}
		})
	}
}
