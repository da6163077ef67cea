package memoryadmissionextension

import (
	"bytes"
	"context"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/otelcol-custom/otelcol-custom/extension/memoryadmissionextension/internal/metadata"
)

func testAdmission(limitMiB, reserveMiB uint64, heap *atomic.Int64) *admission {
	return newAdmission(&Config{LimitMiB: limitMiB, RequestReserveMiB: reserveMiB}, heap.Load, zap.NewNop())
}

// Requests in flight count against the limit with their reservation until they are answered.
func TestAdmitReservesUntilReleased(t *testing.T) {
	var heap atomic.Int64
	heap.Store(50 * mib)
	a := testAdmission(100, 20, &heap)
	r1, _ := a.admit()
	r2, _ := a.admit()
	require.NotNil(t, r1)
	require.NotNil(t, r2)
	r3, refusal := a.admit()
	require.Nil(t, r3, "50 MiB heap + 3 x 20 MiB exceeds 100 MiB")
	assert.Contains(t, refusal, "heap 50 MiB + 40 MiB in flight, limit 100 MiB")
	r1()
	r1() // releasing twice returns the reservation once
	assert.Equal(t, int64(20*mib), a.inFlight.Load())
	r3, _ = a.admit()
	require.NotNil(t, r3)
	r2()
	r3()
	assert.Zero(t, a.inFlight.Load())

	heap.Store(81 * mib)
	r, _ := a.admit()
	assert.Nil(t, r, "the heap alone leaves less than one reservation")
	assert.Zero(t, a.inFlight.Load(), "a refused request reserves nothing")
}

func TestHeapObjectBytesIsLive(t *testing.T) {
	before := heapObjectBytes()
	keep := make([]byte, 64*mib)
	after := heapObjectBytes()
	assert.GreaterOrEqual(t, after-before, int64(60*mib), "a new allocation shows at once, without a GC or a periodic check")
	keep[0] = 1
}

// On gRPC the tap refuses the stream from its headers: the service handler never runs, the
// message is not read, the client gets UNAVAILABLE; admitted streams release their reservation
// when they end.
func TestGRPCTapRefusesBeforeReading(t *testing.T) {
	var heap atomic.Int64
	a := testAdmission(100, 10, &heap)
	opts, err := a.GetGRPCServerOptions(context.Background())
	require.NoError(t, err)
	var handled atomic.Int64
	srv := grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		handled.Add(1)
		return h(ctx, req)
	}))...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.inFlight.Load() == 0 }, 5*time.Second, time.Millisecond, "reservation returned when the stream ended")

	heap.Store(95 * mib)
	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 1<<20)})
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Contains(t, status.Convert(err).Message(), "memory_admission: collector memory at its limit")
	assert.Equal(t, int64(1), handled.Load(), "the refused request never reached the handler")
	assert.Zero(t, a.inFlight.Load())
}

// On HTTP the middleware answers 503 with Retry-After before the receiver's handler runs.
func TestHTTPRefusesBeforeHandler(t *testing.T) {
	var heap atomic.Int64
	a := testAdmission(100, 10, &heap)
	wrap, err := a.GetHTTPHandler(context.Background())
	require.NoError(t, err)
	var handled atomic.Int64
	h, err := wrap(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		handled.Add(1)
		assert.Equal(t, int64(10*mib), a.inFlight.Load(), "reserved while the handler runs")
		w.WriteHeader(http.StatusOK)
	}))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := bytes.Repeat([]byte("x"), 2<<20)

	resp, err := http.Post(srv.URL, "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Zero(t, a.inFlight.Load())

	heap.Store(95 * mib)
	for range 3 { // the connection survives refusals
		resp, err = http.Post(srv.URL, "application/x-protobuf", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	}
	assert.Equal(t, int64(1), handled.Load())
}

func TestConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf("testdata/config.yaml")
	require.NoError(t, err)
	for name, want := range map[string]string{
		"memory_admission":                   "",
		"memory_admission/no_limit":          "limit_mib or limit_percentage: one is required",
		"memory_admission/both":              "set one, not both",
		"memory_admission/percentage":        "",
		"memory_admission/reserve_too_large": "request_reserve_mib: 200 is larger than limit_mib 100",
		"memory_admission/no_reserve":        "request_reserve_mib: must be > 0",
	} {
		t.Run(name, func(t *testing.T) {
			sub, err := cm.Sub(name)
			require.NoError(t, err)
			cfg := createDefaultConfig().(*Config)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestLifecycle(t *testing.T) {
	ext, err := NewFactory().Create(context.Background(), extensionSettings(), &Config{LimitMiB: 10, RequestReserveMiB: 1})
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, ext.Shutdown(context.Background()))
}

func extensionSettings() extension.Settings {
	return extensiontest.NewNopSettings(metadata.Type)
}

// limit_percentage is resolved against GOMEMLIMIT at start; validation does not need it.
func TestLimitPercentageOfGOMEMLIMIT(t *testing.T) {
	cfg := &Config{LimitPercentage: 70, RequestReserveMiB: 4}
	require.NoError(t, cfg.Validate())
	a := newAdmission(cfg, heapObjectBytes, zap.NewNop())
	require.NoError(t, a.resolveLimit(100*mib))
	assert.Equal(t, int64(70*mib), a.limit)
	err := a.resolveLimit(math.MaxInt64)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GOMEMLIMIT is not set")
	err = a.resolveLimit(5 * mib)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no request could ever be admitted")
}

// While refusing, the extension collects garbage (at most every minGCInterval), so admission
// resumes even when nothing else allocates.
func TestRefusalCollectsGarbage(t *testing.T) {
	var heap atomic.Int64
	heap.Store(100 * mib)
	a := testAdmission(50, 1, &heap)
	gcs := func() uint32 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.NumForcedGC
	}
	before := gcs()
	r, _ := a.admit()
	require.Nil(t, r)
	require.Eventually(t, func() bool { return gcs() > before }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return !a.gcRunning.Load() }, 5*time.Second, time.Millisecond)
	forced := gcs()
	for range 100 {
		r, _ = a.admit()
		require.Nil(t, r)
	}
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, forced, gcs(), "no second collection within minGCInterval")
}
