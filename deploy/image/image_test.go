package image_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestImageBuildAndSmoke builds the container image with deploy/image/build.sh (podman, vfs
// storage) and runs its smoke test: exactly three files in the image, non-root user, the collector
// starts from the default config, answers its health check, passes one OTLP/HTTP log record to the
// debug exporter and shuts down cleanly. About one minute on two cores.
func TestImageBuildAndSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: podman with vfs storage and nsenter into the container's network namespace (CI runs as root)")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman not found: run `make prereqs` (scripts/prereq-image.sh)")
	}
	if _, err := os.Stat("../../_build/otelcol-custom"); err != nil && os.Getenv("OTELCOL_CUSTOM_BINARY") == "" {
		t.Fatalf("collector binary missing: run `make build` (or set OTELCOL_CUSTOM_BINARY): %v", err)
	}
	start := time.Now()
	out, err := exec.Command("./build.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"contents ok (3 files)", "smoke test ok", "saved"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("build.sh output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("build.sh took %v:\n%s", time.Since(start).Round(time.Second), out)
}
