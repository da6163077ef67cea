package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"errors"
	"math/bits"
	"net/http"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter/internal/metadata"
)

// numLanes is the number of ordering lanes. Every series belongs to one lane (the hash of its
// labels), always the same one. A request carries the series of a set of lanes and is sent only
// once every earlier request sharing one of its lanes has finished (delivered or dropped), so the
// samples of a series reach the backend in the order they were handed off, whichever requests
// carry them. How many requests an export is cut into is therefore free: a small export is one
// request covering all lanes, a large one is cut into up to `shards` parts, each covering a
// fixed subset of the lanes, sent concurrently.
const numLanes = 64

// laneSet is a set of lanes, one bit per lane.
type laneSet uint64

// partLanes is the set of lanes of part p when an export is cut into k parts: lane l belongs to
// part l mod k.
func partLanes(k, p int) laneSet {
	var s laneSet
	for l := p; l < numLanes; l += k {
		s |= 1 << l
	}
	return s
}

// shardSet is where the requests of one tenant (one combination of include_metadata_keys values;
// a single set without them) go between the appender, which fills them, and the sender, which
// delivers them: at most `shards` requests in flight, each after the earlier requests on its
// lanes, handed off one export at a time in the order the exports started. Tenants have separate
// shard sets, so a tenant whose requests are being retried does not hold back another's.
type shardSet struct {
	headers http.Header // the forwarded client metadata, sent with every request
	order   handoffOrder
	batches *batchPool
	drops   *dropAccount
	// abandoned is set when a request failed during shutdown: the backend is considered down and
	// the set's remaining data is not attempted any more.
	abandoned atomic.Bool

	mu   sync.Mutex
	last [numLanes]*laneRequest // the newest request of each lane

	senders chan struct{} // one token per concurrent request
	queued  chan struct{} // bounds requests handed off and not yet finished (memory)
	wg      sync.WaitGroup

	// send delivers a request: sender.send, or a recorder in unit tests.
	send func(s *shardSet, b *batch) error
}

func newShardSet(shards int, headers http.Header, batches *batchPool, drops *dropAccount, send func(*shardSet, *batch) error) *shardSet {
	s := &shardSet{
		headers: headers,
		batches: batches,
		drops:   drops,
		senders: make(chan struct{}, shards),
		queued:  make(chan struct{}, 3*shards),
		send:    send,
	}
	s.order.cond.L = &s.order.mu
	return s
}

// laneRequest is one request (batch) on its way through the shard set.
type laneRequest struct {
	batch *batch
	call  *exportCall
	after []*laneRequest // requests that must finish first
	done  chan struct{}  // closed when finished
}

// submit hands b (carrying series of lanes) to the senders. Submissions happen in hand-off order
// (one export at a time holds the turn), which is the order requests of a lane are sent in. It
// blocks while too many requests are waiting; they all finish eventually (retries end at
// max_elapsed_time or at shutdown), and none of them waits for this one.
func (s *shardSet) submit(b *batch, lanes laneSet, call *exportCall) {
	s.queued <- struct{}{}
	r := &laneRequest{batch: b, call: call, done: make(chan struct{})}
	s.mu.Lock()
	for rest := lanes; rest != 0; rest &= rest - 1 {
		l := bits.TrailingZeros64(uint64(rest))
		if prev := s.last[l]; prev != nil && !finished(prev) && !containsRequest(r.after, prev) {
			r.after = append(r.after, prev)
		}
		s.last[l] = r
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.run(r)
}

func finished(r *laneRequest) bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func containsRequest(rs []*laneRequest, r *laneRequest) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func (s *shardSet) run(r *laneRequest) {
	defer s.wg.Done()
	for _, prev := range r.after {
		<-prev.done
	}
	r.after = nil
	s.senders <- struct{}{}
	err := s.send(s, r.batch)
	<-s.senders
	s.batches.put(r.batch)
	r.batch = nil
	close(r.done)
	<-s.queued
	r.call.done(err)
}

// wait returns when every submitted request has finished.
func (s *shardSet) wait() { s.wg.Wait() }

// drain waits for the exports still handing off (synchronous mode) and then for every request.
func (s *shardSet) drain() {
	t := s.order.ticket()
	s.order.wait(t)
	s.order.done(t)
	s.wait()
}

// handoffOrder hands out tickets in the order exports start and lets the holder of the current
// turn hand batches to the shards: a series' samples from an earlier export always reach its shard
// before those of a later one, while translation itself runs concurrently.
type handoffOrder struct {
	mu   sync.Mutex
	cond sync.Cond
	next uint64
	turn atomic.Uint64
}

func (h *handoffOrder) ticket() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.next
	h.next++
	return t
}

func (h *handoffOrder) wait(t uint64) {
	h.mu.Lock()
	for h.turn.Load() != t {
		h.cond.Wait()
	}
	h.mu.Unlock()
}

func (h *handoffOrder) done(t uint64) {
	h.mu.Lock()
	h.turn.Store(t + 1)
	h.cond.Broadcast()
	h.mu.Unlock()
}

// exportCall tracks the requests of one export until every one has finished.
type exportCall struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (c *exportCall) done(err error) {
	if err != nil {
		c.mu.Lock()
		c.err = errors.Join(c.err, err)
		c.mu.Unlock()
	}
	c.wg.Done()
}

// batchPool recycles request buffers: the appender takes them, the shard set returns them once
// sent. It is shared by every shard set of the exporter.
type batchPool struct {
	pool sync.Pool // *batch
	// keepBelow bounds the buffers kept: very large ones (a single huge request) are let go, to
	// bound idle memory.
	keepBelow int
}

func newBatchPool(v2 bool, maxBatchSizeBytes int) *batchPool {
	p := &batchPool{keepBelow: 4 * maxBatchSizeBytes}
	p.pool.New = func() any { return newBatch(v2) }
	return p
}

func (p *batchPool) get() *batch { return p.pool.Get().(*batch) }

func (p *batchPool) put(b *batch) {
	if cap(b.series) > p.keepBelow {
		return
	}
	b.reset()
	p.pool.Put(b)
}

// errShutdownInterrupted marks an export that was not completely delivered because the exporter
// is shutting down. With a persistent queue it is returned as a retryable error, which
// exporterhelper turns into a shutdown error: the export stays on disk for the next start.
var errShutdownInterrupted = errors.New("interrupted by shutdown before the data was delivered")

// dropAccount counts what is not delivered: samples given up on (failed_samples) and, for the
// single log line at the end of the shutdown, the exports the shutdown interrupted. It is shared
// by every shard set of the exporter.
type dropAccount struct {
	// persistent is true when sending_queue has a storage: at shutdown, exports not delivered are
	// handed back to it (they stay on disk) instead of being dropped.
	persistent bool
	telemetry  *metadata.TelemetryBuilder

	droppedExports, droppedPoints atomic.Int64
	keptExports                   atomic.Int64
	logOnce                       sync.Once
}

// failed counts samples given up on (rejected, retries exhausted or disabled).
func (d *dropAccount) failed(b *batch) {
	d.telemetry.ExporterPrometheusremotewriteFailedSamples.Add(context.Background(), int64(b.points()))
}

// interruptedBatch accounts for a batch not delivered because of the shutdown. With a persistent
// queue it is not lost (its export stays queued); otherwise its samples are counted as failed, and
// the export's data points are reported once at the end of the shutdown (interruptedExport).
func (d *dropAccount) interruptedBatch(b *batch) error {
	if !d.persistent {
		d.failed(b)
	}
	return errShutdownInterrupted
}

// interruptedExport accounts for an export of points data points interrupted by the shutdown and
// reports whether the persistent queue keeps it.
func (d *dropAccount) interruptedExport(points int) (kept bool) {
	if d.persistent {
		d.keptExports.Add(1)
		return true
	}
	d.droppedExports.Add(1)
	d.droppedPoints.Add(int64(points))
	d.telemetry.ExporterPrometheusremotewriteShutdownDroppedDataPoints.Add(context.Background(), int64(points))
	return false
}

// logShutdown says once what the shutdown did not deliver.
func (d *dropAccount) logShutdown(logger *zap.Logger, endpoint string) {
	d.logOnce.Do(func() {
		if n := d.droppedExports.Load(); n > 0 {
			logger.Error("remote write failed during shutdown: the undelivered exports were dropped (without a persistent queue nothing can keep them; configure sending_queue with storage: file_storage/<name>)",
				zap.Int64("dropped_exports", n), zap.Int64("dropped_data_points", d.droppedPoints.Load()), zap.String("endpoint", endpoint))
		}
		if n := d.keptExports.Load(); n > 0 {
			logger.Info("exports interrupted by shutdown stay in the persistent queue and are sent after the next start",
				zap.Int64("interrupted_exports", n), zap.String("endpoint", endpoint))
		}
	})
}
