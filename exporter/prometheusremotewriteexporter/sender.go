// Copyright otelcol-custom authors
// SPDX-License-Identifier: Apache-2.0

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
	"go.uber.org/zap"
)

// sendBuffers are the encode and compression buffers of a request, reused across requests.
type sendBuffers struct {
	raw, compressed []byte
}

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

// sendBatch encodes, compresses, rate-limits and sends one batch, retrying 5xx, 429 and network
// errors with exponential backoff and jitter (at least as long as Retry-After asks) until
// retry_on_failure.max_elapsed_time. Other 4xx are permanent: the batch is dropped and counted.
//
// Once shutdown has begun nothing is retried: an attempt under way may finish (bounded by
// timeout), a failed one ends the partition's sending (abandoned: its remaining data is not
// attempted) and the batch is given back as errShutdownInterrupted.
func (e *prwExporter) sendBatch(p *partition, b *batch, extra http.Header) error {
	points := b.points()
	if e.stopping.Load() && p.abandoned.Load() {
		return e.interruptedAtShutdown(b)
	}
	bufs := e.sendBuffers.Get().(*sendBuffers)
	defer e.sendBuffers.Put(bufs)
	bufs.raw = b.request(bufs.raw[:0])
	bufs.compressed = s2.EncodeSnappy(bufs.compressed[:cap(bufs.compressed)], bufs.raw)
	body := bufs.compressed
	if err := e.limiter.wait(e.retryCtx, points); err != nil {
		return e.interruptedAtShutdown(b)
	}

	retry := e.cfg.BackOffConfig
	bo := backoff.ExponentialBackOff{
		InitialInterval:     retry.InitialInterval,
		RandomizationFactor: retry.RandomizationFactor,
		Multiplier:          retry.Multiplier,
		MaxInterval:         retry.MaxInterval,
	}
	bo.Reset()
	start := time.Now()
	for attempt := 0; ; attempt++ {
		err := e.post(e.ctx, body, extra, b)
		if err == nil {
			e.telemetry.ExporterPrometheusremotewriteSentSamples.Add(context.Background(), int64(points))
			return nil
		}
		var se *sendError
		if !errors.As(err, &se) || !se.retryable {
			e.reportRejected(b, err)
			return err
		}
		if e.stopping.Load() {
			p.abandoned.Store(true)
			return e.interruptedAtShutdown(b)
		}
		if !retry.Enabled {
			e.dropBatch(b, "retry-disabled", "retry_on_failure is disabled", err)
			return err
		}
		delay := max(bo.NextBackOff(), se.retryAfter)
		if retry.MaxElapsedTime > 0 && time.Since(start)+delay > retry.MaxElapsedTime {
			e.dropBatch(b, "retries-exhausted", fmt.Sprintf("retries exhausted after %s (retry_on_failure.max_elapsed_time)", time.Since(start).Round(time.Millisecond)), err)
			return fmt.Errorf("giving up after %d attempts: %w", attempt+1, err)
		}
		if attempt == 0 || attempt%10 == 0 {
			e.set.Logger.Warn("remote write failed, retrying", zap.Int("attempt", attempt+1),
				zap.Duration("delay", delay), zap.Error(err))
		}
		e.telemetry.ExporterPrometheusremotewriteRetries.Add(context.Background(), 1)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-e.retryCtx.Done():
			t.Stop()
			p.abandoned.Store(true)
			return e.interruptedAtShutdown(b)
		}
	}
}

// interruptedAtShutdown accounts for a batch not delivered because of the shutdown. With a
// persistent queue it is not lost (its export stays queued); otherwise its samples are counted
// as failed, and the export's data points are reported once at the end of the shutdown.
func (e *prwExporter) interruptedAtShutdown(b *batch) error {
	if !e.persistent {
		e.telemetry.ExporterPrometheusremotewriteFailedSamples.Add(context.Background(), int64(b.points()))
	}
	return errShutdownInterrupted
}

// post makes one attempt.
func (e *prwExporter) post(ctx context.Context, body []byte, extra http.Header, b *batch) error {
	if t := e.cfg.TimeoutSettings.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("invalid endpoint %q: %w", e.endpoint, err)
	}
	for k, vs := range extra {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("User-Agent", e.userAgent)
	if e.v2 {
		req.Header.Set("Content-Type", "application/x-protobuf;proto="+string(writeV2MessageType))
		req.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	} else {
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	e.telemetry.ExporterPrometheusremotewriteSentBatches.Add(ctx, 1)
	resp, err := e.client.Do(req)
	if err != nil {
		// Network errors and timeouts: the backend may be restarting.
		return &sendError{retryable: true, err: fmt.Errorf("remote write to %s failed: %w", e.endpoint, err)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, bodyExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // keep the connection reusable
	if resp.StatusCode/100 == 2 {
		if e.v2 {
			e.checkWritten(resp.Header, b)
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
func (e *prwExporter) checkWritten(h http.Header, b *batch) {
	ctx := context.Background()
	samples, okS := headerInt(h, headerSamplesWritten)
	hists, okH := headerInt(h, headerHistogramsWritten)
	exs, okE := headerInt(h, headerExemplarsWritten)
	if !okS && !okH && !okE {
		e.rejects.once("rw2-unconfirmed", func() {
			e.set.Logger.Warn("the endpoint accepted a remote write 2.0 request without X-Prometheus-Remote-Write-*-Written headers; it may not support 2.0 and may have stored nothing. Check the receiver, or set protobuf_message: prometheus.WriteRequest",
				zap.String("endpoint", e.endpoint))
		})
		return
	}
	e.telemetry.ExporterPrometheusremotewriteWrittenSamples.Add(ctx, int64(samples))
	e.telemetry.ExporterPrometheusremotewriteWrittenHistograms.Add(ctx, int64(hists))
	e.telemetry.ExporterPrometheusremotewriteWrittenExemplars.Add(ctx, int64(exs))
	if samples < b.samples || hists < b.histograms {
		e.rejects.once("rw2-partial", func() {
			e.set.Logger.Warn("the endpoint stored fewer samples than sent (reported by remote write 2.0 response headers); further occurrences are logged at debug level",
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
func (e *prwExporter) reportRejected(b *batch, err error) {
	e.telemetry.ExporterPrometheusremotewriteFailedSamples.Add(context.Background(), int64(b.points()))
	var se *sendError
	status := 0
	body := ""
	if errors.As(err, &se) {
		status, body = se.status, se.body
	}
	kind, hint := classifyRejection(status, body)
	fields := []zap.Field{zap.Int("status", status), zap.String("response", body), zap.Int("dropped_samples", b.points()), zap.String("endpoint", e.endpoint)}
	if !e.rejects.once(kind, func() {
		e.set.Logger.Error("remote write rejected the request permanently; the data is dropped and not retried. "+hint, fields...)
	}) {
		e.set.Logger.Debug("remote write rejected the request permanently", fields...)
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
func (e *prwExporter) dropBatch(b *batch, kind, reason string, err error) {
	e.telemetry.ExporterPrometheusremotewriteFailedSamples.Add(context.Background(), int64(b.points()))
	fields := []zap.Field{zap.String("reason", reason), zap.Int("dropped_samples", b.points()), zap.String("endpoint", e.endpoint), zap.Error(err)}
	if !e.rejects.once("dropped-"+kind, func() {
		e.set.Logger.Error("remote write data dropped; later drops of this kind are logged at debug level and counted in otelcol_exporter_prometheusremotewrite_failed_samples", fields...)
	}) {
		e.set.Logger.Debug("remote write data dropped", fields...)
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
