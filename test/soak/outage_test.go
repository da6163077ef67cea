//go:build soak

package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// TestBackendOutage sends spans with unique ids at a steady rate (SOAK_RATE, default 2000/s) to the
// collector, which exports them over OTLP through a file_storage sending queue to a sink that is
// down for SOAK_OUTAGE (default 5m) in the middle of the run.
//
//   - bound_holds_outage: the queue holds more than the outage produces. Every id arrives
//     (at-least-once: spans in flight when the sink died may arrive twice; duplicates are
//     reported), the collector refuses nothing.
//   - bound_too_small: the queue holds a quarter of the outage. The collector refuses the rest;
//     the loss must be counted in otelcol_exporter_enqueue_failed_spans +
//     otelcol_exporter_send_failed_spans, logged with the same item count, and equal
//     sent − received exactly (never silent, nothing accepted lost).
//
// Both cases run in parallel, each with its own collector and sink.
func TestBackendOutage(t *testing.T) {
	outage := envDuration(t, "SOAK_OUTAGE", 5*time.Minute)
	rate := envInt(t, "SOAK_RATE", 2000)
	produced := int(float64(rate) * outage.Seconds())
	t.Logf("outage %s at %d spans/s: %d spans produced while the backend is down", outage, rate, produced)
	t.Run("bound_holds_outage", func(t *testing.T) {
		t.Parallel()
		runOutage(t, outageCase{name: "bound_holds_outage", outage: outage, rate: rate, queueSize: produced*3/2 + 20*rate})
	})
	t.Run("bound_too_small", func(t *testing.T) {
		t.Parallel()
		runOutage(t, outageCase{name: "bound_too_small", outage: outage, rate: rate, queueSize: produced / 4, expectLoss: true})
	})
}

type outageCase struct {
	name       string
	outage     time.Duration
	rate       int
	queueSize  int // items
	expectLoss bool
}

// Load runs this long before the outage and after the backend is back.
const outageMargin = 10 * time.Second

func runOutage(t *testing.T, oc outageCase) {
	recvPort, telPort := proctest.FreePort(t), proctest.FreePort(t)
	sink := newSink(t)
	sink.start(t)
	col := startCollector(t, nil, fmt.Sprintf(`
receivers:
  otlp:
    protocols: {grpc: {endpoint: "%s"}}
exporters:
  otlp_grpc:
    endpoint: %s
    tls: {insecure: true}
    timeout: 2s
    # the only bound is the queue: retry for as long as it takes
    retry_on_failure: {enabled: true, initial_interval: 200ms, max_interval: 2s, max_elapsed_time: 0}
    sending_queue: {enabled: true, storage: file_storage, sizer: items, queue_size: %d, num_consumers: 10}
extensions:
  file_storage:
    directory: %s
service:
  extensions: [file_storage]
  telemetry:
    # every refusal is logged: sampling would hide some of them from the log-vs-metric check
    logs: {encoding: json, sampling: {enabled: false}}
    metrics:
      level: normal
      readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_grpc]}
`, addr(recvPort), sink.address, oc.queueSize, t.TempDir(), telPort))

	load := &spanLoad{rate: oc.rate, perRequest: 100}
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = load.run(ctx, addr(recvPort)) }()
	defer func() { stopLoad(); wg.Wait() }()

	var peakQueue float64
	progress := func(phase string) {
		m, err := selfMetrics(telPort)
		if err != nil {
			t.Logf("[%s] %s: self-metrics: %v", oc.name, phase, err)
			return
		}
		q := m["otelcol_exporter_queue_size"]
		peakQueue = max(peakQueue, q)
		c := sink.counts()
		t.Logf("[%s] %s: sent %d refused %d | queue %.0f/%d | received unique %d dup %d | enqueue_failed %.0f send_failed %.0f",
			oc.name, phase, load.sent.Load(), load.rejected.Load(), q, oc.queueSize, c.unique, c.duplicates,
			m["otelcol_exporter_enqueue_failed_spans"], m["otelcol_exporter_send_failed_spans"])
	}
	watch := func(phase string, d time.Duration) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			time.Sleep(min(10*time.Second, time.Until(end)))
			col.Running(t)
			progress(phase)
		}
	}

	watch("backend up", outageMargin)
	sink.stop()
	outageStart := time.Now()
	watch("backend DOWN", oc.outage)
	sink.start(t)
	t.Logf("[%s] backend restarted after %s", oc.name, time.Since(outageStart).Round(time.Second))
	watch("backend back", outageMargin)
	stopLoad()
	wg.Wait()
	sent := load.sent.Load()

	// Drain: everything accepted reaches the sink or is counted as lost.
	drainStart, lastProgress := time.Now(), time.Now()
	var m map[string]float64
	for {
		var err error
		m, err = selfMetrics(telPort)
		if err != nil {
			t.Fatalf("self-metrics: %v", err)
		}
		counted := int64(m["otelcol_exporter_enqueue_failed_spans"] + m["otelcol_exporter_send_failed_spans"])
		if m["otelcol_exporter_queue_size"] == 0 && sink.counts().unique+counted >= sent {
			break
		}
		if time.Since(drainStart) > 3*time.Minute {
			progress("drain TIMEOUT")
			break
		}
		if time.Since(lastProgress) >= 10*time.Second {
			progress("draining")
			lastProgress = time.Now()
		}
		time.Sleep(500 * time.Millisecond)
	}
	drained := time.Since(drainStart)
	time.Sleep(2 * time.Second) // late duplicates
	m, err := selfMetrics(telPort)
	if err != nil {
		t.Fatalf("self-metrics: %v", err)
	}
	c := sink.counts()
	enqueueFailed := int64(m["otelcol_exporter_enqueue_failed_spans"])
	sendFailed := int64(m["otelcol_exporter_send_failed_spans"])
	counted := enqueueFailed + sendFailed
	logged, logLines := loggedLoss(col.Output.String())
	summary := fmt.Sprintf("%s: outage %s, rate %d spans/s, queue bound %d items (file_storage), peak queue %.0f; "+
		"sent %d, received unique %d (duplicates %d), refused to the client %d; counted loss %d "+
		"(enqueue_failed %d + send_failed %d), logged loss %d in %d log lines; sent-received %d; drained in %s; "+
		"collector: receiver accepted %.0f refused %.0f, exporter sent %.0f; generator max lag %s",
		oc.name, oc.outage, oc.rate, oc.queueSize, peakQueue, sent, c.unique, c.duplicates, load.rejected.Load(),
		counted, enqueueFailed, sendFailed, logged, logLines, sent-c.unique, drained.Round(100*time.Millisecond),
		m["otelcol_receiver_accepted_spans"], m["otelcol_receiver_refused_spans"], m["otelcol_exporter_sent_spans"],
		time.Duration(load.maxLag.Load()).Round(time.Millisecond))
	t.Log(summary)
	if f := resultsFile(t, "outage-"+oc.name+".txt"); f != nil {
		fmt.Fprintf(f, "%s\n%s\n", time.Now().UTC().Format(time.RFC3339), summary)
	}

	// The collector's own books must balance with the client's: this also proves the metric names
	// the assertions below read are the ones the collector exports.
	if accepted := int64(m["otelcol_receiver_accepted_spans"]); accepted != sent-load.rejected.Load() {
		t.Errorf("otelcol_receiver_accepted_spans = %d, the client had %d of %d spans accepted", accepted, sent-load.rejected.Load(), sent)
	}
	if oc.expectLoss {
		if counted == 0 {
			t.Fatalf("queue bound %d is below the %d spans of the outage, yet no loss was counted (sent %d, received %d)",
				oc.queueSize, int(float64(oc.rate)*oc.outage.Seconds()), sent, c.unique)
		}
	} else if counted != 0 || load.rejected.Load() != 0 {
		t.Errorf("queue bound %d holds the outage, yet %d spans were counted lost and %d refused (last error: %s)",
			oc.queueSize, counted, load.rejected.Load(), load.lastError())
	}
	if sent-c.unique != counted {
		t.Errorf("silent loss: sent %d − received %d = %d, but the collector counted %d lost; first missing ids %v",
			sent, c.unique, sent-c.unique, counted, sink.missing(uint64(sent), 10))
	}
	if logged != counted {
		t.Errorf("the log reports %d lost spans in %d lines, the self-metrics %d", logged, logLines, counted)
	}
	if refused := load.rejected.Load(); refused != enqueueFailed {
		t.Errorf("the client was refused %d spans, the queue counted %d enqueue failures (last client error: %s)",
			refused, enqueueFailed, load.lastError())
	}
}

// loggedLoss sums the item counts of the exporter's loss log lines: "Exporting failed. Rejecting
// data." (queue full, rejected_items) and "Exporting failed. Dropping data." (dropped_items).
func loggedLoss(output string) (items int64, lines int) {
	s := bufio.NewScanner(strings.NewReader(output))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.Contains(line, "Exporting failed.") {
			continue
		}
		var rec struct {
			Msg      string `json:"msg"`
			Rejected int64  `json:"rejected_items"`
			Dropped  int64  `json:"dropped_items"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if n := rec.Rejected + rec.Dropped; n > 0 { // retry notices carry no item count
			items += n
			lines++
		}
	}
	return items, lines
}
