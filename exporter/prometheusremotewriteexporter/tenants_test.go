package prometheusremotewriteexporter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

const tenantHeader = "X-Scope-OrgID"

// tenantContext is the client metadata a receiver with include_metadata: true attaches.
func tenantContext(tenant string) context.Context {
	return client.NewContext(context.Background(), client.Info{
		Metadata: client.NewMetadata(map[string][]string{tenantHeader: {tenant}}),
	})
}

// tenantExport is one gauge sample of series tenant=<tenant>, i=<i>.
func tenantExport(tenant string, i int, ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("tenant_metric")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.Attributes().PutStr("tenant", tenant)
	dp.Attributes().PutInt("i", int64(i))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetDoubleValue(float64(i))
	return md
}

// tenantGate sits in front of a backend: it checks that every series of a request belongs to the
// tenant its header names, answers 503 to the tenants it holds, and forwards the rest.
type tenantGate struct {
	t        *testing.T
	held     sync.Map // tenant -> struct{}
	next     http.Handler
	mu       sync.Mutex
	accepted map[string]int // tenant -> series forwarded
	rejected atomic.Int64
}

func (g *tenantGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if !assert.NoError(g.t, err) {
		return
	}
	tenant := r.Header.Get(tenantHeader)
	if _, held := g.held.Load(tenant); held {
		g.rejected.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	raw, err := s2.Decode(nil, body)
	require.NoError(g.t, err)
	var req prompb.WriteRequest
	require.NoError(g.t, req.Unmarshal(raw))
	n := 0
	for _, ts := range req.Timeseries {
		for _, l := range ts.Labels {
			if l.Name == "tenant" {
				assert.Equal(g.t, tenant, l.Value, "series of tenant %s sent with header %s=%q", l.Value, tenantHeader, tenant)
				n++
			}
		}
	}
	g.mu.Lock()
	g.accepted[tenant] += n
	g.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	g.next.ServeHTTP(w, r)
}

func (g *tenantGate) count(tenant string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.accepted[tenant]
}

// Two tenants through one exporter with include_metadata_keys into a real Prometheus: each
// tenant's samples arrive with its own header, and while the backend answers 503 to tenant a
// (retried, queued), tenant b's samples keep being stored; once a recovers, all of its arrive.
func TestTenantsIntoPrometheus(t *testing.T) {
	backend := promtest.Start(t, promtest.Prometheus2)
	target, err := url.Parse("http://" + backend.Addr)
	require.NoError(t, err)
	gate := &tenantGate{t: t, next: httputil.NewSingleHostReverseProxy(target), accepted: map[string]int{}}
	gate.held.Store("a", struct{}{})
	srv := httptest.NewServer(gate)
	defer srv.Close()

	exp := startExporter(t, srv.URL+"/api/v1/write", func(c *Config) {
		c.IncludeMetadataKeys = []string{tenantHeader}
		c.RemoteWriteQueue.Enabled = true
		c.BackOffConfig.MaxElapsedTime = 0
		c.TargetInfo.Enabled = false
	})
	const exports = 20
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range exports {
		ts := base.Add(time.Duration(i) * time.Second)
		require.NoError(t, exp.ConsumeMetrics(tenantContext("a"), tenantExport("a", i, ts)))
		require.NoError(t, exp.ConsumeMetrics(tenantContext("b"), tenantExport("b", i, ts)))
	}
	// Tenant b is stored while tenant a is refused and retried.
	_, err = backend.WaitQuery(context.Background(), `count(tenant_metric{tenant="b"})`, time.Now(), 30*time.Second,
		func(s []promtest.Sample) bool { return len(s) == 1 && s[0].Value == fmt.Sprint(exports) })
	require.NoError(t, err, "tenant b's samples while tenant a is held")
	assert.Positive(t, gate.rejected.Load(), "tenant a was refused")
	assert.Zero(t, gate.count("a"))

	gate.held.Delete("a")
	_, err = backend.WaitQuery(context.Background(), `count(tenant_metric{tenant="a"})`, time.Now(), 30*time.Second,
		func(s []promtest.Sample) bool { return len(s) == 1 && s[0].Value == fmt.Sprint(exports) })
	require.NoError(t, err, "tenant a's samples after it recovered")
	assert.Equal(t, exports, gate.count("a"))
	assert.Equal(t, exports, gate.count("b"))
	assert.Zero(t, exp.counter(t, "failed_samples"))
}

// The same with a recording server: headers are exactly what contrib forwards (every value of
// every configured key present in the client metadata, under the configured key), no header for
// an absent key, and data without the key is a tenant of its own.
func TestTenantHeadersForwarded(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{} // tenant label -> X-Scope-OrgID values
	region := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := s2.Decode(nil, mustRead(t, r.Body))
		require.NoError(t, err)
		var req prompb.WriteRequest
		require.NoError(t, req.Unmarshal(raw))
		mu.Lock()
		defer mu.Unlock()
		for _, ts := range req.Timeseries {
			for _, l := range ts.Labels {
				if l.Name == "tenant" {
					got[l.Value] = r.Header.Values(tenantHeader)
					region[l.Value] = r.Header.Values("X-Region")
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	exp := startExporter(t, srv.URL, func(c *Config) {
		c.IncludeMetadataKeys = []string{tenantHeader, "x-region"}
		c.RemoteWriteQueue.Enabled = true
		c.TargetInfo.Enabled = false
	})
	ctx := client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(map[string][]string{
		tenantHeader: {"a"}, "x-region": {"eu", "us"}, "authorization": {"secret"},
	})})
	require.NoError(t, exp.ConsumeMetrics(ctx, tenantExport("a", 0, time.Now())))
	require.NoError(t, exp.ConsumeMetrics(tenantContext("b"), tenantExport("b", 0, time.Now())))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), tenantExport("none", 0, time.Now())))
	require.NoError(t, exp.Shutdown(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"a"}, got["a"])
	assert.Equal(t, []string{"eu", "us"}, region["a"])
	assert.Equal(t, []string{"b"}, got["b"])
	assert.Empty(t, region["b"])
	assert.Contains(t, got, "none")
	assert.Empty(t, got["none"])
}

func mustRead(t *testing.T, r io.Reader) []byte {
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}
