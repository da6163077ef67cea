package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter"
	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter/internal/metadata"
)

// sender delivers requests to the remote-write endpoint: encode, compress, rate-limit, send,
// retry. It serves every shard set of the exporter and reports what it gives up on to their drop
// accounting.
type sender struct {
	client    *http.Client // set at start
	endpoint  string
	userAgent string
	v2        bool
	timeout   time.Duration // per attempt
	retry     configretry.BackOffConfig
	limiter   *tokenBucket
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	// ctx bounds HTTP attempts; it is canceled at the very end of shutdown.
	ctx context.Context
	// retryCtx is canceled when shutdown begins: waits between retries (and rate-limit waits) end
	// at once, and no request is attempted again.
	retryCtx context.Context

	buffers sync.Pool // *sendBuffers
	rejects rejectLog
}

// newSender returns the sender of cfg; ctx bounds its attempts, retryCtx its retries (see sender).
// Its HTTP client is set when the exporter starts.
func newSender(cfg *Config, set exporter.Settings, tb *metadata.TelemetryBuilder, ctx, retryCtx context.Context) *sender {
	s := &sender{
		endpoint:  cfg.HTTP.Endpoint,
		userAgent: fmt.Sprintf("%s/%s", set.BuildInfo.Command, set.BuildInfo.Version),
		v2:        cfg.remoteWriteV2(),
		timeout:   cfg.TimeoutSettings.Timeout,
		retry:     cfg.BackOffConfig,
		logger:    set.Logger,
		telemetry: tb,
		ctx:       ctx,
		retryCtx:  retryCtx,
	}
	s.buffers.New = func() any { return &sendBuffers{} }
	if cfg.MaxSamplesPerSecond > 0 {
		s.limiter = newTokenBucket(cfg.MaxSamplesPerSecond)
	}
	return s
}

// sendBuffers are the encode and compression buffers of a request, reused across requests.
type sendBuffers struct {
	raw, compressed []byte
}

// stopping tells whether shutdown has begun.
func (s *sender) stopping() bool { return s.retryCtx.Err() != nil }

const (
	headerSamplesWritten    = "X-Prometheus-Remote-Write-Samples-Written"
	headerHistogramsWritten = "X-Prometheus-Remote-Write-Histograms-Written"
	headerExemplarsWritten  = "X-Prometheus-Remote-Write-Exemplars-Written"
	// bodyExcerpt bounds how much of an error response is read and logged.
	bodyExcerpt = 512
)

// sendError is a failed attempt; retryAfter is the delay the server asked for, if any.
type sendError struct {
	status     int
	retryable  bool
	retryAfter time.Duration
	body       string
	err        error
}

func (e *sendError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("remote write returned HTTP %d %s: %s", e.status, http.StatusText(e.status), e.body)
}

// send encodes, compresses, rate-limits and sends one batch of shard set ss, retrying 5xx, 429
// and network errors with exponential backoff and jitter (at least as long as Retry-After asks)
// until retry_on_failure.max_elapsed_time. Other 4xx are permanent: the batch is dropped and
// counted.
//
// Once shutdown has begun nothing is retried: an attempt under way may finish (bounded by
// timeout), a failed one ends the shard set's sending (abandoned: its remaining data is not
// attempted) and the batch is given back as errShutdownInterrupted.
func (s *sender) send(ss *shardSet, b *batch) error {
	points := b.points()
	if s.stopping() && ss.abandoned.Load() {
		return ss.drops.interruptedBatch(b)
	}
	bufs := s.buffers.Get().(*sendBuffers)
	defer s.buffers.Put(bufs)
	bufs.raw = b.request(bufs.raw[:0])
	bufs.compressed = s2.EncodeSnappy(bufs.compressed[:cap(bufs.compressed)], bufs.raw)
	body := bufs.compressed
	if err := s.limiter.wait(s.retryCtx, points); err != nil {
		return ss.drops.interruptedBatch(b)
	}

	retry := s.retry
	bo := backoff.ExponentialBackOff{
		InitialInterval:     retry.InitialInterval,
		RandomizationFactor: retry.RandomizationFactor,
		Multiplier:          retry.Multiplier,
		MaxInterval:         retry.MaxInterval,
	}
	bo.Reset()
	start := time.Now()
	for attempt := 0; ; attempt++ {
		err := s.post(s.ctx, body, ss.headers, b)
		if err == nil {
			s.telemetry.ExporterPrometheusremotewriteSentSamples.Add(context.Background(), int64(points))
			return nil
		}
		var se *sendError
		if !errors.As(err, &se) || !se.retryable {
			s.reportRejected(ss.drops, b, err)
			return err
		}
		if s.stopping() {
			ss.abandoned.Store(true)
			return ss.drops.interruptedBatch(b)
		}
		if !retry.Enabled {
			s.dropBatch(ss.drops, b, "retry-disabled", "retry_on_failure is disabled", err)
			return err
		}
		delay := max(bo.NextBackOff(), se.retryAfter)
		if retry.MaxElapsedTime > 0 && time.Since(start)+delay > retry.MaxElapsedTime {
			s.dropBatch(ss.drops, b, "retries-exhausted", fmt.Sprintf("retries exhausted after %s (retry_on_failure.max_elapsed_time)", time.Since(start).Round(time.Millisecond)), err)
			return fmt.Errorf("giving up after %d attempts: %w", attempt+1, err)
		}
		if attempt == 0 || attempt%10 == 0 {
			s.logger.Warn("remote write failed, retrying", zap.Int("attempt", attempt+1),
				zap.Duration("delay", delay), zap.Error(err))
		}
		s.telemetry.ExporterPrometheusremotewriteRetries.Add(context.Background(), 1)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.retryCtx.Done():
			t.Stop()
			ss.abandoned.Store(true)
			return ss.drops.interruptedBatch(b)
		}
	}
}

// post makes one attempt.
func (s *sender) post(ctx context.Context, body []byte, extra http.Header, b *batch) error {
	if t := s.timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("invalid endpoint %q: %w", s.endpoint, err)
	}
	for k, vs := range extra {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("User-Agent", s.userAgent)
	if s.v2 {
		req.Header.Set("Content-Type", "application/x-protobuf;proto="+string(writeV2MessageType))
		req.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	} else {
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	s.telemetry.ExporterPrometheusremotewriteSentBatches.Add(ctx, 1)
	resp, err := s.client.Do(req)
	if err != nil {
		// Network errors and timeouts: the backend may be restarting.
		return &sendError{retryable: true, err: fmt.Errorf("remote write to %s failed: %w", s.endpoint, err)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, bodyExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // keep the connection reusable
	if resp.StatusCode/100 == 2 {
		if s.v2 {
			s.checkWritten(resp.Header, b)
		}
		return nil
	}
	se := &sendError{status: resp.StatusCode, body: strings.TrimSpace(string(excerpt))}
	if resp.StatusCode/100 == 5 || resp.StatusCode == http.StatusTooManyRequests {
		se.retryable = true
		se.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return se
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// checkWritten reads the remote write 2.0 response headers that confirm what was stored.
func (s *sender) checkWritten(h http.Header, b *batch) {
	ctx := context.Background()
	samples, okS := headerInt(h, headerSamplesWritten)
	hists, okH := headerInt(h, headerHistogramsWritten)
	exs, okE := headerInt(h, headerExemplarsWritten)
	if !okS && !okH && !okE {
		s.rejects.once("rw2-unconfirmed", func() {
			s.logger.Warn("the endpoint accepted a remote write 2.0 request without X-Prometheus-Remote-Write-*-Written headers; it may not support 2.0 and may have stored nothing. Check the receiver, or set protobuf_message: prometheus.WriteRequest",
				zap.String("endpoint", s.endpoint))
		})
		return
	}
	s.telemetry.ExporterPrometheusremotewriteWrittenSamples.Add(ctx, int64(samples))
	s.telemetry.ExporterPrometheusremotewriteWrittenHistograms.Add(ctx, int64(hists))
	s.telemetry.ExporterPrometheusremotewriteWrittenExemplars.Add(ctx, int64(exs))
	if samples < b.samples || hists < b.histograms {
		s.rejects.once("rw2-partial", func() {
			s.logger.Warn("the endpoint stored fewer samples than sent (reported by remote write 2.0 response headers); further occurrences are logged at debug level",
				zap.Int("samples_sent", b.samples), zap.Int("samples_written", samples),
				zap.Int("histograms_sent", b.histograms), zap.Int("histograms_written", hists))
		})
	}
}

func headerInt(h http.Header, k string) (int, bool) {
	v := h.Get(k)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// reportRejected counts and explains a permanent rejection. The first rejection of each kind is
// logged at error level with the response excerpt, later ones at debug level.
func (s *sender) reportRejected(drops *dropAccount, b *batch, err error) {
	drops.failed(b)
	var se *sendError
	status := 0
	body := ""
	if errors.As(err, &se) {
		status, body = se.status, se.body
	}
	kind, hint := classifyRejection(status, body)
	fields := []zap.Field{zap.Int("status", status), zap.String("response", body), zap.Int("dropped_samples", b.points()), zap.String("endpoint", s.endpoint)}
	if !s.rejects.once(kind, func() {
		s.logger.Error("remote write rejected the request permanently; the data is dropped and not retried. "+hint, fields...)
	}) {
		s.logger.Debug("remote write rejected the request permanently", fields...)
	}
}

// classifyRejection names the kind of a permanent rejection and what to do about it.
func classifyRejection(status int, body string) (kind, hint string) {
	l := strings.ToLower(body)
	switch {
	case strings.Contains(l, "out of order") || strings.Contains(l, "out-of-order"):
		return "out-of-order", "The endpoint reports out-of-order samples: another writer sends the same series, or older data was replayed. Make series unique per writer (external_labels) or enable out-of-order ingestion on the backend."
	case strings.Contains(l, "duplicate"):
		return "duplicate", "The endpoint reports duplicate samples with different values for the same timestamp: two writers send the same series. Make series unique per writer (external_labels)."
	case strings.Contains(l, "out of bounds") || strings.Contains(l, "too old"):
		return "too-old", "The endpoint reports samples too old to be ingested; they were queued too long or carry old timestamps."
	case status == http.StatusUnsupportedMediaType:
		return "unsupported-media-type", "The endpoint does not accept this remote write version; check protobuf_message (Prometheus 2.x only accepts prometheus.WriteRequest)."
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "auth", "Check the credentials (headers, auth)."
	case status == http.StatusNotFound:
		return "not-found", "Check the endpoint URL path (Prometheus: /api/v1/write)."
	}
	return fmt.Sprintf("http-%d", status), "Check the response for the cause."
}

// dropBatch counts and logs data given up on for a reason other than a rejection: the first time
// for each kind at error level, later at debug level (no log flood during a long incident; the
// count is in failed_samples).
func (s *sender) dropBatch(drops *dropAccount, b *batch, kind, reason string, err error) {
	drops.failed(b)
	fields := []zap.Field{zap.String("reason", reason), zap.Int("dropped_samples", b.points()), zap.String("endpoint", s.endpoint), zap.Error(err)}
	if !s.rejects.once("dropped-"+kind, func() {
		s.logger.Error("remote write data dropped; later drops of this kind are logged at debug level and counted in otelcol_exporter_prometheusremotewrite_failed_samples", fields...)
	}) {
		s.logger.Debug("remote write data dropped", fields...)
	}
}

// rejectLog remembers which kinds of failures were already logged at a high level.
type rejectLog struct {
	seen sync.Map
}

// once runs f the first time kind is seen and reports whether it did.
func (r *rejectLog) once(kind string, f func()) bool {
	if _, loaded := r.seen.LoadOrStore(kind, struct{}{}); loaded {
		return false
	}
	f()
	return true
}
