package k8staggingprocessor // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/metadata"
	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"
)

// Signal names used in self-metrics.
const (
	signalTraces  = "traces"
	signalMetrics = "metrics"
	signalLogs    = "logs"
)

var signals = []string{signalTraces, signalMetrics, signalLogs}

// clientsFactory creates the API clients; tests replace it to use client-go fakes.
var clientsFactory = newClients

// tagger is one processor instance. Instances share the pod cache through podcache's registry.
type tagger struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	rules    []assocRule
	ex       *extraction
	excludes []*regexp.Regexp

	lease *podcache.Lease
	cache *podcache.Cache
	// netmap resolves edge peers (network_map.enabled); nil otherwise.
	netmap *networkMap

	holdSlots chan struct{}
	stopping  chan struct{}

	// Precomputed metric attribute sets: [signal][rule] (+1 for "none").
	assocAttrs map[string][]metric.MeasurementOption
	holdAttrs  map[string]map[string]metric.MeasurementOption
}

func newTagger(set processor.Settings, cfg *Config) (*tagger, error) {
	rules, err := compileAssociations(cfg.Association)
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	t := &tagger{
		cfg:       cfg,
		logger:    set.Logger,
		telemetry: tb,
		rules:     rules,
		ex:        compileExtraction(cfg.Extract),
		stopping:  make(chan struct{}),
	}
	excludes := cfg.Exclude.Pods
	if len(excludes) == 0 {
		excludes = defaultExcludedPods()
	}
	for _, e := range excludes {
		t.excludes = append(t.excludes, regexp.MustCompile(e.Name))
	}
	if cfg.HoldOnMiss.Timeout > 0 {
		t.holdSlots = make(chan struct{}, cfg.HoldOnMiss.MaxBatches)
	}
	t.assocAttrs = map[string][]metric.MeasurementOption{}
	t.holdAttrs = map[string]map[string]metric.MeasurementOption{}
	for _, sig := range signals {
		opts := make([]metric.MeasurementOption, 0, len(rules)+1)
		for _, r := range rules {
			opts = append(opts, metric.WithAttributeSet(attribute.NewSet(
				attribute.String("association_source", r.label), attribute.String("otelcol.signal", sig))))
		}
		opts = append(opts, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("association_source", "none"), attribute.String("otelcol.signal", sig))))
		t.assocAttrs[sig] = opts
		t.holdAttrs[sig] = map[string]metric.MeasurementOption{}
		for _, outcome := range []string{"tagged", "timeout", "overflow", "shutdown"} {
			t.holdAttrs[sig][outcome] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("outcome", outcome), attribute.String("otelcol.signal", sig)))
		}
	}

	if cfg.Passthrough {
		return t, nil
	}
	needs := t.ex.needs()
	if cfg.NetworkMap.Enabled {
		t.netmap = newNetworkMap(cfg.NetworkMap, cfg.Filter.staticNode())
		needs.Peers = true
	}
	labelSel, fieldSel, err := selectors(cfg.Filter)
	if err != nil {
		return nil, err
	}
	settings := podcache.Settings{
		APIKey:            apiKey(cfg.APIConfig),
		Namespace:         cfg.Filter.Namespace,
		LabelSelector:     labelSel,
		FieldSelector:     fieldSel,
		NodeName:          cfg.Filter.staticNode(),
		NodeFromEnvVar:    cfg.Filter.NodeFromEnvVar,
		DeleteGracePeriod: cfg.PodDeleteGracePeriod,
	}
	api := cfg.APIConfig
	t.lease = podcache.Register(settings, needs, func() (podcache.Clients, error) { return clientsFactory(api) }, set.Logger)
	return t, nil
}

func (t *tagger) start(ctx context.Context, _ component.Host) error {
	if t.lease == nil {
		return nil
	}
	c, err := t.lease.Start()
	if err != nil {
		return err
	}
	t.cache = c
	t.lease.OnError(func(error) { t.telemetry.K8sTaggingWatchErrors.Add(context.Background(), 1) })
	if err := t.telemetry.RegisterK8sTaggingCachePodsCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(c.PodCount()))
		return nil
	}); err != nil {
		return err
	}
	if t.cfg.WaitForMetadata {
		waitCtx, cancel := context.WithTimeout(ctx, t.cfg.WaitForMetadataTimeout)
		defer cancel()
		if err := podcache.WaitForSync(waitCtx, c); err != nil {
			return fmt.Errorf("wait_for_metadata: %w", err)
		}
	}
	return nil
}

func (t *tagger) shutdown(context.Context) error {
	select {
	case <-t.stopping:
	default:
		close(t.stopping)
	}
	if t.lease != nil {
		t.lease.Release()
	}
	t.telemetry.Shutdown()
	return nil
}

func (t *tagger) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	rs := td.ResourceSpans()
	t.tagAll(ctx, signalTraces, rs.Len(), func(i int) pcommon.Resource { return rs.At(i).Resource() })
	return td, nil
}

func (t *tagger) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	rm := md.ResourceMetrics()
	t.tagAll(ctx, signalMetrics, rm.Len(), func(i int) pcommon.Resource { return rm.At(i).Resource() })
	if t.netmap != nil && t.cache != nil {
		t.netmap.tagEdges(t.cache, md)
	}
	return md, nil
}

func (t *tagger) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	rl := ld.ResourceLogs()
	t.tagAll(ctx, signalLogs, rl.Len(), func(i int) pcommon.Resource { return rl.At(i).Resource() })
	return ld, nil
}

// tagAll tags every resource of a batch; with hold_on_miss the batch waits (bounded) for pods that
// are not in the cache yet.
func (t *tagger) tagAll(ctx context.Context, signal string, n int, resource func(int) pcommon.Resource) {
	var missed []int
	for i := 0; i < n; i++ {
		if t.tagResource(ctx, signal, resource(i), true) {
			missed = append(missed, i)
		}
	}
	if len(missed) > 0 && t.holdSlots != nil {
		t.hold(ctx, signal, missed, resource)
	}
}

// tagResource adds the metadata to one resource; it reports whether the resource named a pod
// that the cache does not (yet) know.
func (t *tagger) tagResource(ctx context.Context, signal string, res pcommon.Resource, count bool) (missed bool) {
	attrs := res.Attributes()
	if t.cfg.Passthrough {
		if id := identify(ctx, t.rules, attrs, nil, t.ex); id.ip != "" {
			putIfAbsent(attrs, attrPodIP, id.ip)
		}
		return false
	}
	c := t.cache
	if c == nil {
		return false
	}
	id := identify(ctx, t.rules, attrs, c, t.ex)
	pod := id.pod
	if pod != nil && t.excluded(pod) {
		pod = nil
	} else if pod != nil {
		if id.ip != "" && t.ex.has(attrPodIP) {
			putIfAbsent(attrs, attrPodIP, id.ip)
		}
		t.ex.applyPod(c, pod, attrs)
		t.ex.applyContainer(pod, attrs)
	}
	t.ex.applyNamespaceAndNode(c, pod, attrs)

	if count {
		opt := t.assocAttrs[signal][len(t.rules)]
		if id.rule >= 0 {
			opt = t.assocAttrs[signal][id.rule]
		}
		switch {
		case pod != nil:
			t.telemetry.K8sTaggingAssociations.Add(ctx, 1, opt)
		case id.rule >= 0 && id.pod == nil:
			t.telemetry.K8sTaggingCacheMisses.Add(ctx, 1, opt)
		}
	}
	return id.rule >= 0 && id.pod == nil
}

func (t *tagger) excluded(pod *podcache.Pod) bool {
	if v, ok := pod.Annotations[ignoreAnnotation]; ok && strings.EqualFold(strings.TrimSpace(v), "true") {
		return true
	}
	for _, re := range t.excludes {
		if re.MatchString(pod.Name) {
			return true
		}
	}
	return false
}

// hold waits for the missing pods to appear in the cache, at most hold_on_miss.timeout, with at
// most hold_on_miss.max_batches batches waiting at once. The caller's goroutine waits, so the
// data stays owned by the pipeline (no copy) and back-pressure reaches the receiver.
func (t *tagger) hold(ctx context.Context, signal string, missed []int, resource func(int) pcommon.Resource) {
	select {
	case t.holdSlots <- struct{}{}:
	default:
		t.telemetry.K8sTaggingHolds.Add(ctx, 1, t.holdAttrs[signal]["overflow"])
		return
	}
	defer func() { <-t.holdSlots }()
	t.telemetry.K8sTaggingHeldBatches.Add(ctx, 1)
	defer t.telemetry.K8sTaggingHeldBatches.Add(ctx, -1)

	deadline := time.NewTimer(t.cfg.HoldOnMiss.Timeout)
	defer deadline.Stop()
	for {
		changed := t.cache.Changed()
		still := missed[:0]
		for _, i := range missed {
			if t.tagResource(ctx, signal, resource(i), false) {
				still = append(still, i)
			}
		}
		missed = still
		if len(missed) == 0 {
			t.telemetry.K8sTaggingHolds.Add(ctx, 1, t.holdAttrs[signal]["tagged"])
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.telemetry.K8sTaggingHolds.Add(ctx, 1, t.holdAttrs[signal]["timeout"])
			return
		case <-ctx.Done():
			t.telemetry.K8sTaggingHolds.Add(context.Background(), 1, t.holdAttrs[signal]["shutdown"])
			return
		case <-t.stopping:
			t.telemetry.K8sTaggingHolds.Add(ctx, 1, t.holdAttrs[signal]["shutdown"])
			return
		}
	}
}
