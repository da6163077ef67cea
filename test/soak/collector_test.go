//go:build soak

package soak

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// startCollector runs the binary under test with config and waits until it is ready; it is
// stopped (SIGTERM) when the test ends.
func startCollector(t *testing.T, env []string, config string) *proctest.Collector {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	c := proctest.Start(t, proctest.Binary(t), env, "--config", path)
	c.WaitReady(t, 90*time.Second)
	return c
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
