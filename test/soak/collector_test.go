//go:build soak

package soak

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// The process helpers below follow test/e2e/harness_test.go; they are small, and the e2e ones live
// in test files of another package (not importable).

// binary returns the collector under test; a missing binary fails the test: it is what is tested.
func collectorBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_CUSTOM_BINARY")
	if bin == "" {
		bin = repoPath("_build", "otelcol-custom")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("collector binary %s not found (%v): run `make build`", bin, err)
	}
	return bin
}

// repoPath resolves a path in the repository; `go test` runs in test/soak.
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

// startCollector runs the binary with config and stops it (SIGTERM) when the test ends.
func startCollector(t *testing.T, env []string, config string) *collector {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &collector{output: &proctest.Buffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(collectorBinary(t), "--config", path)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.output, c.output
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.stop(t)
		if t.Failed() {
			t.Logf("collector output (tail):\n%s", tail(c.output.String(), 8000))
		}
	})
	deadline := time.After(90 * time.Second)
	for !strings.Contains(c.output.String(), "Everything is ready") {
		select {
		case <-c.exited:
			t.Fatalf("collector exited before becoming ready (%v):\n%s", c.err, tail(c.output.String(), 8000))
		case <-deadline:
			t.Fatalf("collector not ready after 90s:\n%s", tail(c.output.String(), 8000))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return c
}

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

// running fails the test when the collector has exited.
func (c *collector) running(t *testing.T) {
	t.Helper()
	select {
	case <-c.exited:
		t.Fatalf("collector exited (%v):\n%s", c.err, tail(c.output.String(), 8000))
	default:
	}
}

// rssBytes reads the collector's resident set size from /proc.
func (c *collector) rssBytes() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", c.cmd.Process.Pid)
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
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// sample is one line of the Prometheus text format.
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)`)

// selfMetrics scrapes the collector's Prometheus telemetry endpoint and sums every series by
// metric name (the tests run one component of each kind per signal, so labels don't matter).
// Names are keyed without a "_total" suffix: the collector's Prometheus reader may or may not add
// it depending on its translation strategy. Counters appear only once they were first incremented.
func selfMetrics(port int) (map[string]float64, error) {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/metrics", addr(port)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("telemetry endpoint answered HTTP %d", resp.StatusCode)
	}
	out := map[string]float64{}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		m := sampleLine.FindStringSubmatch(s.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(m[1], "_total")] += v
	}
	return out, s.Err()
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

// goroutines reads the collector's goroutine count from its pprof extension.
func goroutines(pprofPort int) (int, error) {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", addr(pprofPort)))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	m := goroutineTotal.FindStringSubmatch(line)
	if m == nil {
		return 0, fmt.Errorf("unexpected pprof goroutine page: %q", line)
	}
	return strconv.Atoi(m[1])
}

// envDuration reads a duration from the environment, failing the test on a malformed value.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration such as 20s or 5m", name, v)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// resultsFile creates name in $SOAK_RESULTS_DIR, or returns nil when results are only logged.
func resultsFile(t *testing.T, name string) *os.File {
	t.Helper()
	dir := os.Getenv("SOAK_RESULTS_DIR")
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
