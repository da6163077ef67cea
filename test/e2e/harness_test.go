//go:build e2e

// Package e2e tests the built otelcol-custom binary from the outside, as a user runs it.
// Run with `make test-e2e` (sets OTELCOL_CUSTOM_BINARY to the freshly built binary).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// readyTimeout bounds how long a collector may take to log "Everything is ready".
const readyTimeout = 60 * time.Second

// runCommand runs the binary to completion and returns its combined output and exit code.
func runCommand(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, proctest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		exitErr, ok := err.(*exec.ExitError)
		require.Truef(t, ok, "running %v: %v", args, err)
		code = exitErr.ExitCode()
	}
	return string(out), code
}

// startCollector starts the binary under test in the background; it is stopped when the test ends.
func startCollector(t *testing.T, env []string, args ...string) *proctest.Collector {
	t.Helper()
	return proctest.Start(t, proctest.Binary(t), env, args...)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec // loopback test URL
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
