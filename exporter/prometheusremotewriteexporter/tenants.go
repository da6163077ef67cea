package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// tenants gives every combination of include_metadata_keys values (a tenant) its own shard set,
// and with remote_write_queue its own in-memory queue and consumer (Config.tenantQueues). Without
// include_metadata_keys there is a single tenant.
type tenants struct {
	keys []string // include_metadata_keys
	// queued tells whether every tenant has its own queue of queueSize exports.
	queued    bool
	queueSize int
	newSet    func(headers http.Header) *shardSet
	// export delivers a queued export (prwExporter.export).
	export func(ctx context.Context, set *shardSet, md pmetric.Metrics) error

	mu     sync.Mutex
	byKey  map[string]*tenant
	closed bool           // the queues are closed (shutdown)
	wg     sync.WaitGroup // the queues' consumers
}

// tenant is the sending state of one combination of include_metadata_keys values.
type tenant struct {
	set   *shardSet
	queue chan queuedExport // nil without per-tenant queues
}

// queuedExport is an export waiting in a tenant's queue.
type queuedExport struct {
	ctx context.Context
	md  pmetric.Metrics
}

// errQueueFull refuses an export when its tenant's queue is full (back-pressure to the receiver,
// like exporterhelper's queue).
var errQueueFull = errors.New("the remote_write_queue of this tenant (include_metadata_keys values) is full")

// shardSetFor returns the shard set of the export's client metadata.
func (ts *tenants) shardSetFor(ctx context.Context) *shardSet {
	headers, key := ts.forwardedHeaders(ctx)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.tenantLocked(key, headers).set
}

func (ts *tenants) tenantLocked(key string, headers http.Header) *tenant {
	t := ts.byKey[key]
	if t == nil {
		t = &tenant{set: ts.newSet(headers)}
		if ts.queued {
			t.queue = make(chan queuedExport, ts.queueSize)
			ts.wg.Add(1)
			go ts.consume(t)
		}
		if ts.byKey == nil {
			ts.byKey = map[string]*tenant{}
		}
		ts.byKey[key] = t
	}
	return t
}

// enqueue puts md in the queue of its tenant. Every tenant has its own in-memory queue of
// remote_write_queue.queue_size exports with its own consumer, so that a tenant whose backend
// rejects or throttles it (retries) does not hold back the others.
func (ts *tenants) enqueue(ctx context.Context, md pmetric.Metrics) error {
	headers, key := ts.forwardedHeaders(ctx)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return consumererror.NewPermanent(errors.New("the prometheus_remote_write exporter is shut down"))
	}
	t := ts.tenantLocked(key, headers)
	select {
	case t.queue <- queuedExport{ctx: context.WithoutCancel(ctx), md: md}:
		return nil
	default:
		return errQueueFull
	}
}

func (ts *tenants) consume(t *tenant) {
	defer ts.wg.Done()
	for q := range t.queue {
		// The outcome was counted and logged by export; nobody is waiting for it.
		_ = ts.export(q.ctx, t.set, q.md)
	}
}

// closeQueues stops accepting exports and waits until the tenants' queues are drained (during
// shutdown, without retries).
func (ts *tenants) closeQueues() {
	ts.mu.Lock()
	if !ts.closed {
		ts.closed = true
		for _, t := range ts.byKey {
			if t.queue != nil {
				close(t.queue)
			}
		}
	}
	ts.mu.Unlock()
	ts.wg.Wait()
}

// shardSets returns the shard set of every tenant seen.
func (ts *tenants) shardSets() []*shardSet {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	sets := make([]*shardSet, 0, len(ts.byKey))
	for _, t := range ts.byKey {
		sets = append(sets, t.set)
	}
	return sets
}

// forwardedHeaders returns the values of include_metadata_keys in the export's client metadata,
// forwarded as request headers like contrib does (each value of each key, under the key's name),
// and the tenant key they make.
func (ts *tenants) forwardedHeaders(ctx context.Context) (http.Header, string) {
	if len(ts.keys) == 0 {
		return nil, ""
	}
	info := client.FromContext(ctx)
	var h http.Header
	var key strings.Builder
	for _, k := range ts.keys {
		vs := info.Metadata.Get(k)
		// The key distinguishes absent from empty values and cannot be forged by a value
		// containing the separators: lengths are written before the strings.
		fmt.Fprintf(&key, "%d:", len(vs))
		for _, v := range vs {
			fmt.Fprintf(&key, "%d:%s", len(v), v)
			if h == nil {
				h = http.Header{}
			}
			h.Add(k, v)
		}
	}
	return h, key.String()
}
