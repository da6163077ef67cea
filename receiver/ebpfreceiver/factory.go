package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadata"
)

// NewFactory returns the factory of the ebpf receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
		receiver.WithLogs(createLogs, metadata.LogsStability),
		receiver.WithTraces(createTraces, metadata.TracesStability),
	)
}

// One receiver instance (one set of BPF programs) serves the metrics, logs
// and traces pipelines that use the same receiver configuration.
var (
	instancesMu sync.Mutex
	instances   = map[*Config]*sharedReceiver{}
)

func instanceFor(cfg *Config, set receiver.Settings) *sharedReceiver {
	instancesMu.Lock()
	defer instancesMu.Unlock()
	if r, ok := instances[cfg]; ok {
		return r
	}
	r := &sharedReceiver{cfg: cfg, set: set}
	r.onLastShutdown = func() {
		instancesMu.Lock()
		delete(instances, cfg)
		instancesMu.Unlock()
	}
	instances[cfg] = r
	return r
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r := instanceFor(cfg.(*Config), set)
	r.setMetrics(next)
	return r.handle(), nil
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	r := instanceFor(cfg.(*Config), set)
	r.setLogs(next)
	return r.handle(), nil
}

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	r := instanceFor(cfg.(*Config), set)
	r.setTraces(next)
	return r.handle(), nil
}

// sharedReceiver starts the BPF side on the first Start and stops it on the last Shutdown.
type sharedReceiver struct {
	cfg            *Config
	set            receiver.Settings
	onLastShutdown func()

	mu      sync.Mutex
	metrics consumer.Metrics
	logs    consumer.Logs
	traces  consumer.Traces
	started int
	impl    *ebpfReceiver
}

func (s *sharedReceiver) setMetrics(c consumer.Metrics) { s.mu.Lock(); s.metrics = c; s.mu.Unlock() }
func (s *sharedReceiver) setLogs(c consumer.Logs)       { s.mu.Lock(); s.logs = c; s.mu.Unlock() }
func (s *sharedReceiver) setTraces(c consumer.Traces)   { s.mu.Lock(); s.traces = c; s.mu.Unlock() }

// handle is what one pipeline holds; each handle starts and shuts down once.
func (s *sharedReceiver) handle() *receiverHandle { return &receiverHandle{shared: s} }

type receiverHandle struct {
	shared  *sharedReceiver
	started bool
}

func (h *receiverHandle) Start(ctx context.Context, host component.Host) error {
	s := h.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started == 0 {
		impl, err := newEBPFReceiver(s.cfg, s.set, s.metrics, s.logs, s.traces)
		if err == nil {
			err = impl.Start(ctx, host)
		}
		if err != nil {
			if s.cfg.OnStartError != OnStartErrorReport {
				return err
			}
			// Keep the collector running without eBPF data, loudly.
			s.set.Logger.Error("ebpf receiver not started; the collector runs without eBPF data (on_start_error: report)", zap.Error(err))
			componentstatus.ReportStatus(host, componentstatus.NewPermanentErrorEvent(err))
			impl = nil
		}
		s.impl = impl
	}
	s.started++
	h.started = true
	return nil
}

func (h *receiverHandle) Shutdown(ctx context.Context) error {
	s := h.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	if !h.started {
		// Shutdown without a successful Start: release the instance if nobody else uses it.
		if s.started == 0 && s.onLastShutdown != nil {
			s.onLastShutdown()
		}
		return nil
	}
	h.started = false
	s.started--
	if s.started > 0 {
		return nil
	}
	var err error
	if s.impl != nil {
		err = s.impl.Shutdown(ctx)
		s.impl = nil
	}
	if s.onLastShutdown != nil {
		s.onLastShutdown()
	}
	return err
}
