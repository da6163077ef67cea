package distribution_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-custom/otelcol-custom/cmd/otelcol-custom/distribution"
)

// TestEmbeddedWatchfileRejectsInvalidChange: an embedded collector started from a watchfile: URI
// must not stop when the file changes to valid YAML holding an invalid configuration (without
// the in-process check the reload fails and Run returns). A later valid change is applied.
func TestEmbeddedWatchfileRejectsInvalidChange(t *testing.T) {
	s, sinkAddr := startSink(t)
	config := func(recvAddr, verbosity string) string {
		return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true
  debug:
    verbosity: %s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_grpc, debug]}
`, recvAddr, sinkAddr, verbosity)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	first := freeAddr(t)
	require.NoError(t, os.WriteFile(path, []byte(config(first, "basic")), 0o600))

	col, err := otelcol.NewCollector(distribution.Settings("watchfile:" + path))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	defer func() {
		col.Shutdown()
		<-done
	}()
	require.Eventually(t, func() bool { return col.GetState() == otelcol.StateRunning }, 30*time.Second, 20*time.Millisecond)

	send := func(addr string) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		sendCtx, sendCancel := context.WithTimeout(ctx, 2*time.Second)
		defer sendCancel()
		_, err = ptraceotlp.NewGRPCClient(conn).Export(sendCtx, ptraceotlp.NewExportRequestFromTraces(makeTraces(1)))
		return err
	}
	require.NoError(t, send(first))

	// "loud" is not a debug verbosity: the YAML is fine, the configuration is not.
	second := freeAddr(t)
	require.NoError(t, os.WriteFile(path, []byte(config(second, "loud")), 0o600))
	// Longer than the provider's debounce plus an in-process validation.
	time.Sleep(3 * time.Second)
	select {
	case err := <-done:
		done <- err // for the deferred shutdown
		t.Fatalf("the collector stopped after an invalid config change (Run returned %v); the change should have been rejected", err)
	default:
	}
	require.Equal(t, otelcol.StateRunning, col.GetState())
	require.NoError(t, send(first), "the collector must keep serving its current configuration")
	require.Error(t, send(second), "the rejected configuration must not have been applied")

	// A valid change is applied: the receiver moves to the new address.
	require.NoError(t, os.WriteFile(path, []byte(config(second, "basic")), 0o600))
	require.Eventually(t, func() bool { return send(second) == nil }, 30*time.Second, 100*time.Millisecond,
		"the valid change was not applied")
	require.Equal(t, otelcol.StateRunning, col.GetState())
	require.GreaterOrEqual(t, s.spans.Load(), int64(2))
}
