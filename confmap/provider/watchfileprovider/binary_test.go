// Copyright otelcol-custom authors
// SPDX-License-Identifier: Apache-2.0

package watchfileprovider_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/otelcol-custom/otelcol-custom/confmap/provider/watchfileprovider"
)

// runAsCollectorEnv makes the test binary behave as a collector binary built the way ocb builds
// otelcol-custom (otelcol.NewCommand, providers from NewFactory()), so the test can exercise the
// provider's default in a real process: validating changes with the binary's own `validate`.
const runAsCollectorEnv = "WATCHFILEPROVIDER_TEST_RUN_AS_COLLECTOR"

func init() {
	if os.Getenv(runAsCollectorEnv) != "1" {
		return
	}
	cmd := otelcol.NewCommand(otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "watchfile-test-collector", Version: "test"},
		Factories: testFactories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			ProviderFactories: []confmap.ProviderFactory{watchfileprovider.NewFactory()},
			// Only the watchfile provider is linked in; ${...} without a scheme is not used.
			DefaultScheme: "watchfile",
		}},
	})
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// lineLog collects a process's output lines.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *lineLog) count(substrs ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		all := true
		for _, s := range substrs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestCollectorBinaryValidatesChangesWithItsValidateSubcommand(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the collector process test in -short mode")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	sink := startSink(t)
	volume := t.TempDir()
	storage := t.TempDir()
	receiver := freeEndpoint(t)
	kubeletSwap(t, volume, 1, collectorConfig(storage, receiver, sink.addr, "1"))

	cmd := exec.Command(exe, "--config", "watchfile:"+filepath.Join(volume, "config.yaml"))
	cmd.Env = append(os.Environ(), runAsCollectorEnv+"=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	logs := &lineLog{}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			logs.add(sc.Text())
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-scanned
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})

	waitLines := func(what string, n int, substrs ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for logs.count(substrs...) < n {
			select {
			case err := <-exited:
				t.Fatalf("collector process exited (%v) while waiting for %s; output:\n%s", err, what, logs)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; output:\n%s", what, logs)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLines("collector start", 1, "Everything is ready")

	// A typo in a field name is valid YAML; only the collector's own unmarshal can catch it.
	bad := strings.Replace(collectorConfig(storage, receiver, sink.addr, "2"), "    compression: none\n", "    compresion: none\n", 1)
	kubeletSwap(t, volume, 2, bad)
	waitLines("rejection of the typo", 1, "Rejected the changed config file", "has invalid keys: compresion")
	assert.Equal(t, 1, logs.count("Everything is ready"), "the running service must not be restarted for a rejected config")
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "Rejected the changed config file") {
			t.Logf("rejection log line: %s", line)
		}
	}

	written := kubeletSwap(t, volume, 3, collectorConfig(storage, receiver, sink.addr, "3"))
	waitLines("reload of the fixed config", 2, "Everything is ready")
	t.Logf("binary mode (validation by `validate` subprocess): write -> reloaded service ready in %v", time.Since(written).Round(time.Millisecond))
	assert.Equal(t, 1, logs.count("passed validation"))

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "collector output:\n%s", logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("collector did not exit after SIGTERM; output:\n%s", logs)
	}
}
