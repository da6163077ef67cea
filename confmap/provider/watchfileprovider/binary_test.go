package watchfileprovider_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// collectorProcess is a collector binary running as a child process, with its log lines.
type collectorProcess struct {
	tb     testing.TB
	cmd    *exec.Cmd
	logs   *lineLog
	exited chan error
}

func startCollectorProcess(tb testing.TB, exe string, env []string, args ...string) *collectorProcess {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	p := &collectorProcess{tb: tb, cmd: cmd, logs: &lineLog{}, exited: make(chan error, 1)}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.logs.add(sc.Text())
		}
	}()
	go func() {
		<-scanned
		p.exited <- cmd.Wait()
	}()
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitLines waits until at least n log lines contain all substrs.
func (p *collectorProcess) waitLines(what string, n int, substrs ...string) {
	p.tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.logs.count(substrs...) < n {
		select {
		case err := <-p.exited:
			p.tb.Fatalf("collector process exited (%v) while waiting for %s; output:\n%s", err, what, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("timed out waiting for %s; output:\n%s", what, p.logs)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop sends SIGTERM and requires a clean exit.
func (p *collectorProcess) stop() {
	p.tb.Helper()
	require.NoError(p.tb, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.exited:
		require.NoError(p.tb, err, "collector output:\n%s", p.logs)
	case <-time.After(30 * time.Second):
		p.tb.Fatalf("collector did not exit after SIGTERM; output:\n%s", p.logs)
	}
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

	col := startCollectorProcess(t, exe, []string{runAsCollectorEnv + "=1"}, "--config", "watchfile:"+filepath.Join(volume, "config.yaml"))
	col.waitLines("collector start", 1, "Everything is ready")

	// A typo in a field name is valid YAML; only the collector's own unmarshal can catch it.
	bad := strings.Replace(collectorConfig(storage, receiver, sink.addr, "2"), "    compression: none\n", "    compresion: none\n", 1)
	kubeletSwap(t, volume, 2, bad)
	col.waitLines("rejection of the typo", 1, "Rejected the changed config file", "has invalid keys: compresion")
	assert.Equal(t, 1, col.logs.count("Everything is ready"), "the running service must not be restarted for a rejected config")
	for _, line := range strings.Split(col.logs.String(), "\n") {
		if strings.Contains(line, "Rejected the changed config file") {
			t.Logf("rejection log line: %s", line)
		}
	}

	written := kubeletSwap(t, volume, 3, collectorConfig(storage, receiver, sink.addr, "3"))
	col.waitLines("reload of the fixed config", 2, "Everything is ready")
	t.Logf("binary mode (validation by `validate` subprocess): write -> reloaded service ready in %v", time.Since(written).Round(time.Millisecond))
	assert.Equal(t, 1, col.logs.count("passed validation"))
	col.stop()
}

// BenchmarkBinaryReloadLatency measures reloads of a real otelcol-custom binary (which validates
// each change by running its own `validate` subcommand) under OTLP load:
//
//	OTELCOL_CUSTOM_BINARY=$PWD/_build/otelcol-custom go test -run '^$' -bench BenchmarkBinaryReloadLatency -benchtime 10x ./confmap/provider/watchfileprovider/
func BenchmarkBinaryReloadLatency(b *testing.B) {
	exe := os.Getenv("OTELCOL_CUSTOM_BINARY")
	if exe == "" {
		b.Skip("set OTELCOL_CUSTOM_BINARY to an otelcol-custom binary that includes the watchfile provider (make build)")
	}
	sink := startSink(b)
	volume := b.TempDir()
	storage := b.TempDir()
	receiver := freeEndpoint(b)
	kubeletSwap(b, volume, 1, collectorConfig(storage, receiver, sink.addr, "1"))
	col := startCollectorProcess(b, exe, nil, "--config=watchfile:"+filepath.Join(volume, "config.yaml"))
	col.waitLines("collector start", 1, "Everything is ready")
	load := startLoad(b, receiver)
	waitFor(b, 30*time.Second, "first data at the sink", func() bool { return sink.distinctSeen() > 0 })

	var active []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		gen := fmt.Sprint(i + 2)
		written := kubeletSwap(b, volume, i+2, collectorConfig(storage, receiver, sink.addr, gen))
		var first time.Time
		waitFor(b, 60*time.Second, "first request of generation "+gen, func() bool {
			var ok bool
			first, ok = sink.firstAccepted(gen)
			return ok
		})
		active = append(active, first.Sub(written))
	}
	b.StopTimer()
	load.halt()
	col.stop()
	slices.Sort(active)
	b.Logf("%d reloads of %s under load: write -> first request exported by the new pipeline min %v / median %v / max %v",
		len(active), filepath.Base(exe), active[0].Round(time.Millisecond), percentile(active, 0.5).Round(time.Millisecond), active[len(active)-1].Round(time.Millisecond))
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(percentile(active, 0.5)), "ms-active-p50")
	b.ReportMetric(ms(percentile(active, 0.9)), "ms-active-p90")
	b.ReportMetric(ms(active[len(active)-1]), "ms-active-max")
}
