//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// TestSecretsStayOutOfLogs runs exporters whose headers carry credentials against backends that
// fail (connection refused, HTTP 500 and 401 from a remote-write endpoint), with debug logging, so
// every error path logs; no credential may appear in the collector's output. The remote-write
// backend checks it really received the header, so the test cannot pass by never sending it.
func TestSecretsStayOutOfLogs(t *testing.T) {
	const (
		otlpHTTPToken = "e2e-otlp-http-bearer-4f1d"
		otlpGRPCToken = "e2e-otlp-grpc-bearer-9a2c"
		rwToken       = "e2e-remote-write-bearer-77e0"
	)
	var rwRequests, rwWithToken atomic.Int64
	rw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rwRequests.Add(1)
		if r.Header.Get("Authorization") == "Bearer "+rwToken {
			rwWithToken.Add(1)
		}
		// A 500 is retried and logged, then a 401 is permanent and logged with the body excerpt.
		if n == 1 {
			http.Error(w, "backend hiccup", http.StatusInternalServerError)
			return
		}
		http.Error(w, "authentication required", http.StatusUnauthorized)
	}))
	defer rw.Close()

	grpcPort, telPort, deadPort := proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)
	cfg := writeFile(t, "secrets.yaml", fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:%d"}
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:%d
    headers: {Authorization: "Bearer %s"}
    retry_on_failure: {enabled: false}
    sending_queue: {enabled: false}
  otlp_grpc:
    endpoint: 127.0.0.1:%d
    tls: {insecure: true}
    headers: {Authorization: "Bearer %s"}
    retry_on_failure: {enabled: false}
    sending_queue: {enabled: false}
  prometheus_remote_write:
    endpoint: %s/api/v1/write
    headers: {Authorization: "Bearer %s", X-Scope-OrgID: tenant-1}
    retry_on_failure: {enabled: true, initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 5s}
service:
  telemetry:
    logs: {level: debug}
    metrics: {readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]}
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_http, otlp_grpc]}
    metrics: {receivers: [otlp], exporters: [prometheus_remote_write]}
`, grpcPort, deadPort, otlpHTTPToken, deadPort, otlpGRPCToken, rw.URL, rwToken, telPort))

	col := startCollector(t, nil, "--config", cfg)
	col.WaitReady(t, readyTimeout)
	endpoint := addr(grpcPort)
	// Both trace exporters fail (nothing listens on deadPort): the client sees the error.
	require.Error(t, sendSpanGRPC(endpoint, insecure.NewCredentials(), "secret-span"))
	require.NoError(t, sendGauge(endpoint, "secret_gauge", 1))
	require.Eventually(t, func() bool { return rwRequests.Load() >= 2 }, 30*time.Second, 100*time.Millisecond,
		"the remote-write exporter did not retry after the 500")
	// Let the 401 be logged.
	require.Eventually(t, func() bool {
		return strings.Contains(col.Output.String(), "401") || strings.Contains(col.Output.String(), "authentication required")
	}, 15*time.Second, 100*time.Millisecond, "the permanent 401 was not logged")
	col.Stop(t)

	out := col.Output.String()
	require.NotEmpty(t, out)
	assert.Equal(t, rwRequests.Load(), rwWithToken.Load(), "every remote-write request carries the configured header")
	for _, secret := range []string{otlpHTTPToken, otlpGRPCToken, rwToken} {
		assert.NotContainsf(t, out, secret, "a credential from the config appears in the collector's output")
	}
}
