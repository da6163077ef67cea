// Package promtest starts real remote-write backends (Prometheus 2.x from Debian, Prometheus 3
// built by scripts/prereq-prw.sh, VictoriaMetrics) on 127.0.0.1 random ports for tests and
// benchmarks, queries them through their HTTP APIs, and provides an in-process decoding sink.
package promtest // import "github.com/otelcol-custom/otelcol-custom/internal/promtest"

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// Kind is a backend implementation.
type Kind string

// The backends the tests run against.
const (
	Prometheus2     Kind = "prometheus2"
	Prometheus3     Kind = "prometheus3"
	VictoriaMetrics Kind = "victoriametrics"
)

// Prometheus3Version is the Prometheus 3 release scripts/prereq-prw.sh builds.
const Prometheus3Version = "v0.316.0"

// Binary returns the path of the backend binary, or an error that names `make prereqs`.
func Binary(k Kind) (string, error) {
	var p string
	switch k {
	case Prometheus2:
		p = "/usr/bin/prometheus"
	case VictoriaMetrics:
		p = "/usr/bin/victoria-metrics"
	case Prometheus3:
		cache := os.Getenv("OTELCOL_CUSTOM_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "otelcol-custom")
		}
		p = filepath.Join(cache, "prometheus-"+Prometheus3Version, "prometheus")
	default:
		return "", fmt.Errorf("unknown backend %q", k)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s binary %s is missing: run `make prereqs` (scripts/prereq-prw.sh) to install it", k, p)
	}
	return p, nil
}

// Backend is a running backend process with its own data directory and port. Stop and Start may be
// called repeatedly (outage tests); the data directory and port are kept.
type Backend struct {
	Kind    Kind
	Addr    string // host:port
	dataDir string
	bin     string
	logPath string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// WriteURL is the remote-write endpoint.
func (b *Backend) WriteURL() string { return "http://" + b.Addr + "/api/v1/write" }

// Option adjusts a backend's configuration.
type Option func(*backendConfig)

type backendConfig struct {
	outOfOrderWindow time.Duration
}

// WithOutOfOrderWindow sets Prometheus' storage.tsdb.out_of_order_time_window (VictoriaMetrics
// accepts out-of-order samples without it).
func WithOutOfOrderWindow(d time.Duration) Option {
	return func(c *backendConfig) { c.outOfOrderWindow = d }
}

// Start launches a backend of kind k, failing t (with a `make prereqs` hint) when it is not
// installed. It is stopped at the end of the test.
func Start(t testing.TB, k Kind, opts ...Option) *Backend {
	t.Helper()
	bin, err := Binary(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b := &Backend{Kind: k, Addr: fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t)), dataDir: dir, bin: bin, logPath: filepath.Join(dir, "backend.log")}
	var cfg backendConfig
	for _, o := range opts {
		o(&cfg)
	}
	if k != VictoriaMetrics {
		conf := "global:\n  scrape_interval: 1m\n"
		if cfg.outOfOrderWindow > 0 {
			conf += fmt.Sprintf("storage:\n  tsdb:\n    out_of_order_time_window: %s\n", model.Duration(cfg.outOfOrderWindow))
		}
		if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	return b
}

func (b *Backend) args() []string {
	switch b.Kind {
	case VictoriaMetrics:
		return []string{
			"-storageDataPath=" + filepath.Join(b.dataDir, "vm"),
			"-httpListenAddr=" + b.Addr,
			"-retentionPeriod=100y",
			"-search.latencyOffset=0s",
			"-search.disableCache",
			"-loggerLevel=WARN",
		}
	case Prometheus2:
		return []string{
			"--config.file=" + filepath.Join(b.dataDir, "prometheus.yml"),
			"--storage.tsdb.path=" + filepath.Join(b.dataDir, "tsdb"),
			"--web.listen-address=" + b.Addr,
			"--web.enable-remote-write-receiver",
			"--enable-feature=native-histograms,exemplar-storage",
			"--log.level=warn",
		}
	default: // Prometheus3
		return []string{
			"--config.file=" + filepath.Join(b.dataDir, "prometheus.yml"),
			"--storage.tsdb.path=" + filepath.Join(b.dataDir, "tsdb"),
			"--web.listen-address=" + b.Addr,
			"--web.enable-remote-write-receiver",
			// The flag is repeated, one message type per occurrence.
			"--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest",
			"--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request",
			"--enable-feature=exemplar-storage",
			"--log.level=warn",
		}
	}
}

// Start (re)starts the process and waits until it is ready.
func (b *Backend) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(b.bin, b.args()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", b.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	b.cmd = cmd
	ready := "/-/ready"
	if b.Kind == VictoriaMetrics {
		ready = "/health"
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			b.cmd = nil
			logs, _ := os.ReadFile(b.logPath)
			return fmt.Errorf("%s exited during startup; log:\n%s", b.Kind, tail(logs, 2000))
		default:
		}
		resp, err := http.Get("http://" + b.Addr + ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs, _ := os.ReadFile(b.logPath)
	return fmt.Errorf("%s on %s not ready after 60s; log:\n%s", b.Kind, b.Addr, tail(logs, 2000))
}

// Stop terminates the process (SIGTERM, then SIGKILL) and waits for its port to be free.
func (b *Backend) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() {
		for {
			if err := b.cmd.Process.Signal(syscallZero); err != nil {
				close(done)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	b.cmd = nil
}

// Pid is the process id of the running backend, 0 when stopped.
func (b *Backend) Pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// Log returns the backend's log output so far.
func (b *Backend) Log() string {
	data, _ := os.ReadFile(b.logPath)
	return string(data)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Sample is one value of an instant-query result.
type Sample struct {
	Labels    map[string]string
	Timestamp float64 // seconds
	Value     string
}

// Query runs an instant PromQL query at time at and returns the vector result.
func (b *Backend) Query(ctx context.Context, promql string, at time.Time) ([]Sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := b.instantQuery(ctx, promql, at, &data); err != nil {
		return nil, err
	}
	out := make([]Sample, 0, len(data.Result))
	for _, res := range data.Result {
		ts, _ := res.Value[0].(float64)
		v, _ := res.Value[1].(string)
		out = append(out, Sample{Labels: res.Metric, Timestamp: ts, Value: v})
	}
	return out, nil
}

// instantQuery evaluates promql at time at through /api/v1/query (the same API on Prometheus and
// VictoriaMetrics) and decodes the response's data field into data.
func (b *Backend) instantQuery(ctx context.Context, promql string, at time.Time, data any) error {
	q := url.Values{"query": {promql}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.Addr+"/api/v1/query", strings.NewReader(q.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	var r struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		return fmt.Errorf("query %q: HTTP %d: %s", promql, resp.StatusCode, tail(buf.Bytes(), 500))
	}
	if r.Status != "success" {
		return fmt.Errorf("query %q failed: %s", promql, r.Error)
	}
	if err := json.Unmarshal(r.Data, data); err != nil {
		return fmt.Errorf("query %q: decoding the result: %w: %s", promql, err, tail(r.Data, 500))
	}
	return nil
}

// WaitQuery polls Query until cond accepts the result or timeout passes, returning the last result.
func (b *Backend) WaitQuery(ctx context.Context, promql string, at time.Time, timeout time.Duration, cond func([]Sample) bool) ([]Sample, error) {
	deadline := time.Now().Add(timeout)
	for {
		res, err := b.Query(ctx, promql, at)
		if err == nil && cond(res) {
			return res, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("query %q: condition not met within %s; last result %v", promql, timeout, res)
			}
			return res, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Point is one raw sample: timestamp in milliseconds and value as the API prints it.
type Point struct {
	T int64
	V string
}

// Series is one series of a raw-samples query.
type Series struct {
	Labels     map[string]string
	Points     []Point
	Histograms []Point // native histogram samples; V is the JSON of the histogram
}

// QueryRaw returns the raw samples of the series matching selector within window before at, by
// evaluating the range selector `selector[window]` as an instant query (Prometheus and
// VictoriaMetrics both return the stored samples unchanged for it).
func (b *Backend) QueryRaw(ctx context.Context, selector string, at time.Time, window time.Duration) ([]Series, error) {
	promql := fmt.Sprintf("%s[%ds]", selector, int(window.Seconds()))
	var data struct {
		Result []struct {
			Metric     map[string]string `json:"metric"`
			Values     [][2]any          `json:"values"`
			Histograms [][2]any          `json:"histograms"`
		} `json:"result"`
	}
	if err := b.instantQuery(ctx, promql, at, &data); err != nil {
		return nil, err
	}
	out := make([]Series, 0, len(data.Result))
	for _, res := range data.Result {
		s := Series{Labels: res.Metric}
		for _, v := range res.Values {
			s.Points = append(s.Points, Point{T: toMillis(v[0]), V: fmt.Sprint(v[1])})
		}
		for _, v := range res.Histograms {
			h, _ := json.Marshal(v[1])
			s.Histograms = append(s.Histograms, Point{T: toMillis(v[0]), V: string(h)})
		}
		out = append(out, s)
	}
	return out, nil
}

func toMillis(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x*1000 + 0.5)
	case json.Number:
		f, _ := x.Float64()
		return int64(f*1000 + 0.5)
	}
	return 0
}
