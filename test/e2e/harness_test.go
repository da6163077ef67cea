//go:build e2e

// Package e2e tests the built otelcol-custom binary from the outside, as a user runs it.
// Run with `make test-e2e` (sets OTELCOL_CUSTOM_BINARY to the freshly built binary).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// binary returns the collector under test; a missing binary is a failure, not a skip, because the
// whole point of this package is to test it.
func binary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_CUSTOM_BINARY")
	if bin == "" {
		bin = repoPath("_build", "otelcol-custom")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("collector binary %s not found (%v): run `make build` or `make test-e2e`", bin, err)
	}
	return bin
}

// repoPath resolves a path in the repository. `go test` runs in the package directory
// (test/e2e); runtime.Caller can't be used because builds use -trimpath.
func repoPath(parts ...string) string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

type collector struct {
	cmd    *exec.Cmd
	output *proctest.Buffer
	exited chan struct{}
	err    error
}

// runCommand runs the binary to completion and returns its combined output and exit code.
func runCommand(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
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

// startCollector starts the binary in the background and stops it (SIGTERM) when the test ends.
func startCollector(t *testing.T, env []string, args ...string) *collector {
	t.Helper()
	c := &collector{output: &proctest.Buffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(binary(t), args...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout = c.output
	c.cmd.Stderr = c.output
	require.NoError(t, c.cmd.Start())
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stop(t)
		if t.Failed() {
			t.Logf("collector %v output:\n%s", args, tail(c.output.String(), 8000))
		}
	})
	return c
}

// stop sends SIGTERM and waits for a clean exit.
func (c *collector) stop(t *testing.T) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		t.Errorf("collector did not stop within 30s of SIGTERM")
	}
}

// waitReady waits for the collector's "Everything is ready" log line, failing early if it exits.
func (c *collector) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(c.output.String(), "Everything is ready") {
		select {
		case <-c.exited:
			t.Fatalf("collector exited before becoming ready (%v):\n%s", c.err, tail(c.output.String(), 8000))
		case <-deadline:
			t.Fatalf("collector not ready after 60s:\n%s", tail(c.output.String(), 8000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// freePort reserves a loopback port number; the listener is closed so the collector can bind it.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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
