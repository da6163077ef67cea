package prometheusremotewriteexporter

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

const (
	crashChildEnv     = "PRW_PERSISTENCE_CHILD_DIR"
	crashEndpointEnv  = "PRW_PERSISTENCE_CHILD_ENDPOINT"
	crashBatches      = 20
	crashSeries       = 100
	crashReadyMessage = "QUEUED"
)

type extensionHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h extensionHost) GetExtensions() map[component.ID]component.Component { return h.ext }

var storageID = component.MustNewID("file_storage")

// startPersistentExporter starts a file_storage extension on dir and an exporter whose
// sending_queue is persisted there.
func startPersistentExporter(t *testing.T, dir, endpoint string) *testExporter {
	t.Helper()
	fsf := filestorage.NewFactory()
	fsCfg := fsf.CreateDefaultConfig().(*filestorage.Config)
	fsCfg.Directory = dir
	fsCfg.FSync = true
	ext, err := fsf.Create(context.Background(), extensiontest.NewNopSettings(fsf.Type()), fsCfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = ext.Shutdown(context.Background()) })
	host := extensionHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{storageID: ext}}

	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.Endpoint = endpoint
	cfg.Shards = 4
	cfg.TargetInfo.Enabled = false
	cfg.BackOffConfig.InitialInterval = 20 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 200 * time.Millisecond
	cfg.BackOffConfig.MaxElapsedTime = 0
	id := storageID
	cfg.QueueConfig = configoptional.Some(exporterhelper.QueueBatchConfig{
		QueueSize:    1000,
		NumConsumers: 1,
		Sizer:        exporterhelper.RequestSizerTypeRequests,
		StorageID:    &id,
	})
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	set := exportertestSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	// The queue's storage key derives from the exporter ID: it must be the same after the restart.
	set.ID = component.NewIDWithName(set.ID.Type(), "persistent")
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	return &testExporter{Metrics: exp, tel: tel}
}

// TestPersistentQueueCrashChild is the process that gets killed: it queues every batch for an
// unreachable backend, says so, and waits to be killed with SIGKILL.
func TestPersistentQueueCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process of TestPersistentQueueSurvivesKill9, not a test on its own")
	}
	exp := startPersistentExporter(t, dir, os.Getenv(crashEndpointEnv))
	base, _ := strconv.ParseInt(os.Getenv("PRW_PERSISTENCE_CHILD_BASE"), 10, 64)
	for b := range crashBatches {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("persisted")
		dps := m.SetEmptyGauge().DataPoints()
		for s := range crashSeries {
			dp := dps.AppendEmpty()
			dp.Attributes().PutInt("series", int64(s))
			dp.SetTimestamp(pcommon.Timestamp(base + int64(b)*int64(time.Second)))
			dp.SetDoubleValue(float64(b))
		}
		require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
	}
	fmt.Println(crashReadyMessage)
	time.Sleep(time.Minute) // killed long before
}

// crashWithQueuedBatches runs TestPersistentQueueCrashChild against an unreachable endpoint and
// kills it with SIGKILL once its batches are queued in dir (one of them in flight, mid-retry). It
// returns the child's output.
func crashWithQueuedBatches(t *testing.T, dir string) string {
	t.Helper()
	down := fmt.Sprintf("http://127.0.0.1:%d/api/v1/write", proctest.FreePort(t))
	base := time.Now().Add(-time.Minute).UnixNano()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPersistentQueueCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashEndpointEnv+"="+down, "PRW_PERSISTENCE_CHILD_BASE="+strconv.FormatInt(base, 10))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	ready := make(chan bool, 1)
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.TrimSpace(sc.Text()) == crashReadyMessage {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		require.True(t, ok, "child exited before queueing: %s", out.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("child did not queue its batches in 60 s: %s", out.String())
	}
	time.Sleep(500 * time.Millisecond)     // let it be mid-retry
	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no shutdown, no flush
	_ = cmd.Wait()
	return out.String()
}

// kill -9 of a process holding a persistent queue while the backend is down, then a restart with
// the backend up: every queued sample arrives.
func TestPersistentQueueSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	out := crashWithQueuedBatches(t, dir)

	sink := promtest.NewSink()
	defer sink.Close()
	exp := startPersistentExporter(t, dir, sink.URL())
	want := int64(crashBatches * crashSeries)
	deadline := time.Now().Add(30 * time.Second)
	for sink.Samples.Load() < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, want, sink.Samples.Load(), "samples delivered after the restart (requests %d, errors %d); child output:\n%s", sink.Requests.Load(), sink.Errors.Load(), out)
	// exporterhelper's persistent queue re-enqueues the batch that was in flight at the crash at
	// the tail of the queue, so at most that one batch (one per queue consumer) arrives after
	// newer samples of its series (see TestPersistentQueueKill9IntoPrometheus).
	_, ooo := sink.Snapshot()
	assert.LessOrEqual(t, ooo, int64(crashSeries))
	t.Logf("%d samples redelivered out of order (the in-flight batch at the crash)", ooo)
}

// The same crash into a real Prometheus. Prometheus rejects a whole remote write 1.0 request when
// one of its samples is older than its series' newest (HTTP 400, rolled back), so the batch
// redelivered last after the restart would be lost; with storage.tsdb.out_of_order_time_window
// covering the queue's age, as the README advises for persistent queues, every sample is stored
// and nothing is counted as failed.
func TestPersistentQueueKill9IntoPrometheus(t *testing.T) {
	backend := promtest.Start(t, promtest.Prometheus2, promtest.WithOutOfOrderWindow(time.Hour))
	dir := t.TempDir()
	out := crashWithQueuedBatches(t, dir)
	exp := startPersistentExporter(t, dir, backend.WriteURL())
	want := fmt.Sprint(crashBatches * crashSeries)
	res, err := backend.WaitQuery(context.Background(), "sum(count_over_time(persisted[1h]))", time.Now().Add(time.Minute), 60*time.Second,
		func(s []promtest.Sample) bool { return len(s) == 1 && s[0].Value == want })
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, err, "samples stored by Prometheus: %v; child output:\n%s\nPrometheus log:\n%s", res, out, backend.Log())
	assert.Zero(t, exp.counter(t, "failed_samples"))
}
