package memoryadmissionextension // import "github.com/otelcol-custom/otelcol-custom/extension/memoryadmissionextension"

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

const mib = 1 << 20

var (
	_ extensionmiddleware.GRPCServer = (*admission)(nil)
	_ extensionmiddleware.HTTPServer = (*admission)(nil)
)

// admission decides per request, from the heap as it is at that moment (not as it was at the
// last periodic check), so no offered rate can slip more data in between two checks.
type admission struct {
	cfg            *Config
	limit, reserve int64 // bytes
	heap           func() int64
	logger         *zap.Logger

	inFlight  atomic.Int64 // bytes reserved by admitted requests not answered yet
	gcRunning atomic.Bool
	lastGC    atomic.Int64 // unix nanoseconds when the last collection this extension asked for ended
	refusing  atomic.Bool  // for logging the transitions only
	refused   atomic.Int64 // requests refused since refusing began
}

func newAdmission(cfg *Config, heap func() int64, logger *zap.Logger) *admission {
	return &admission{cfg: cfg, limit: int64(cfg.LimitMiB) * mib, reserve: int64(cfg.RequestReserveMiB) * mib, heap: heap, logger: logger}
}

// resolveLimit turns limit_percentage into bytes of GOMEMLIMIT. It runs at start, not at
// validation, so a config validates outside the container that sets GOMEMLIMIT.
func (a *admission) resolveLimit(goMemLimit int64) error {
	if a.cfg.LimitPercentage == 0 {
		return nil
	}
	if goMemLimit <= 0 || goMemLimit == math.MaxInt64 {
		return fmt.Errorf("limit_percentage: %d%% of GOMEMLIMIT, but GOMEMLIMIT is not set; set it (for example to 80%% of the "+
			"container's memory limit) or use limit_mib", a.cfg.LimitPercentage)
	}
	a.limit = goMemLimit / 100 * int64(a.cfg.LimitPercentage)
	if a.limit <= a.reserve {
		return fmt.Errorf("limit_percentage: %d%% of GOMEMLIMIT (%d MiB) is not more than request_reserve_mib %d, so no request could "+
			"ever be admitted", a.cfg.LimitPercentage, goMemLimit/mib, a.reserve/mib)
	}
	return nil
}

// heapSample is the Go heap occupied by objects, live or dead but not yet swept: what the
// garbage collector has to deal with. runtime/metrics reads it without stopping the world
// (runtime.ReadMemStats, which the memory_limiter uses, does).
const heapSample = "/memory/classes/heap/objects:bytes"

func heapObjectBytes() int64 {
	s := [1]metrics.Sample{{Name: heapSample}}
	metrics.Read(s[:])
	return int64(s[0].Value.Uint64())
}

func (a *admission) Start(context.Context, component.Host) error {
	if err := a.resolveLimit(debug.SetMemoryLimit(-1)); err != nil {
		return err
	}
	a.logger.Info("Admitting requests while the Go heap and requests in flight stay under the limit",
		zap.Int64("limit_mib", a.limit/mib), zap.Int64("request_reserve_mib", a.reserve/mib))
	return nil
}

func (a *admission) Shutdown(context.Context) error { return nil }

// admit reserves memory for one request. It refuses when the heap plus every reservation,
// this one included, would exceed the limit; release returns the reservation.
func (a *admission) admit() (release func(), refusal string) {
	reserved := a.inFlight.Add(a.reserve)
	heap := a.heap()
	if heap+reserved > a.limit {
		a.inFlight.Add(-a.reserve)
		a.refused.Add(1)
		a.collect()
		if a.refusing.CompareAndSwap(false, true) {
			a.logger.Warn("Refusing requests before reading them: Go heap and requests in flight are at the limit",
				zap.Int64("heap_mib", heap/mib), zap.Int64("in_flight_mib", (reserved-a.reserve)/mib), zap.Int64("limit_mib", a.limit/mib))
		}
		return nil, fmt.Sprintf("memory_admission: collector memory at its limit (heap %d MiB + %d MiB in flight, limit %d MiB); retry later",
			heap/mib, (reserved-a.reserve)/mib, a.limit/mib)
	}
	if a.refusing.CompareAndSwap(true, false) {
		a.logger.Info("Admitting requests again", zap.Int64("refused_requests", a.refused.Swap(0)), zap.Int64("heap_mib", heap/mib))
	}
	var once sync.Once
	return func() { once.Do(func() { a.inFlight.Add(-a.reserve) }) }, ""
}

// minGCInterval spaces the collections collect starts. Refusing keeps memory bounded however
// slow the collection is; collecting only brings admission back sooner.
const minGCInterval = 250 * time.Millisecond

// collect starts a garbage collection while requests are refused: the heap counted against the
// limit includes garbage, and the runtime's own pacing (GOGC, GOMEMLIMIT) may not collect it
// soon when little is allocated any more, which is the point of refusing.
func (a *admission) collect() {
	if time.Now().UnixNano()-a.lastGC.Load() < int64(minGCInterval) || !a.gcRunning.CompareAndSwap(false, true) {
		return
	}
	go func() {
		runtime.GC()
		a.lastGC.Store(time.Now().UnixNano())
		a.gcRunning.Store(false)
	}()
}

// GetGRPCServerOptions installs a tap handle: it runs when a stream's headers arrive, before the
// server reads the request message, so a refused request is never read into memory or decoded.
// The client gets UNAVAILABLE, which OTLP exporters retry with backoff.
func (a *admission) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	return []grpc.ServerOption{grpc.InTapHandle(a.tap)}, nil
}

func (a *admission) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	release, refusal := a.admit()
	if release == nil {
		return nil, status.Error(codes.Unavailable, refusal)
	}
	// The stream's context ends when the stream does, however it ends (answered, reset, timed
	// out, connection lost): the reservation cannot leak.
	context.AfterFunc(ctx, release)
	return ctx, nil
}

// GetHTTPHandler answers 503 with Retry-After before the handler reads the body. The refused body
// is discarded through a small pooled buffer (up to request_reserve_mib) so that the client,
// still sending, reads the answer on a connection that stays open.
func (a *admission) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			release, refusal := a.admit()
			if release == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, a.reserve))
				w.Header().Set("Retry-After", "1")
				http.Error(w, refusal, http.StatusServiceUnavailable)
				return
			}
			defer release()
			next.ServeHTTP(w, r)
		}), nil
	}, nil
}
