//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// TestGatewayConfigRemoteWrite runs the shipped gateway config (deploy/gateway/config.yaml, the
// file its ConfigMap is generated from) with its listeners moved to free ports and its queue in a
// temporary directory: metrics sent over OTLP must reach a real Prometheus through remote write
// (BACKEND_REMOTE_WRITE_URL) and the persistent queue, as the README says the gateway does.
func TestGatewayConfigRemoteWrite(t *testing.T) {
	backend := promtest.Start(t, promtest.Prometheus2)
	grpcPort, httpPort, healthPort, telPort := proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)
	env := []string{
		"BACKEND_REMOTE_WRITE_URL=" + backend.WriteURL(),
		// Nothing listens here: this test sends metrics only, traces and logs would go there.
		"BACKEND_OTLP_ENDPOINT=" + addr(proctest.FreePort(t)),
		"GOMEMLIMIT=819MiB", // as gateway/deployment.yaml sets it
	}
	col := startCollector(t, env,
		"--config", proctest.RepoPath(t, "deploy", "gateway", "config.yaml"),
		"--set", "receivers::otlp::protocols::grpc::endpoint="+addr(grpcPort),
		"--set", "receivers::otlp::protocols::http::endpoint="+addr(httpPort),
		"--set", "extensions::health_check::endpoint="+addr(healthPort),
		"--set", "extensions::file_storage/queue::directory="+t.TempDir(),
		"--config", fmt.Sprintf("yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", telPort),
	)
	col.WaitReady(t, readyTimeout)

	const exports = 5
	exportBatches(t, addr(grpcPort), exports)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := backend.WaitQuery(ctx, "e2e_batch", time.Now(), time.Minute, func(s []promtest.Sample) bool { return len(s) == exports })
	require.NoError(t, err, "the gateway's metrics did not reach Prometheus by remote write; collector output:\n%s", proctest.Tail(col.Output.String(), 4000))
}
