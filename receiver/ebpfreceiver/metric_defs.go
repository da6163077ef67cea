package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	_ "embed"
	"fmt"
	"reflect"
	"strings"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadata"
)

// metadata.yaml is the one place where the receiver's metrics are described:
// mdatagen generates documentation.md and internal/metadata from it, and the
// emission code takes names, units, descriptions and types from it here.
// mdatagen v0.161.0 generates no builders for exponential histograms, so the
// receiver emits with its own code (metrics.go) instead of the generated
// MetricsBuilder.
//
//go:embed metadata.yaml
var metadataYAML []byte

// metricDef is one emitted metric as declared in metadata.yaml. All sums are
// cumulative and monotonic; all histograms are cumulative log2 histograms
// (see histogram.go). Durations use ns/us rather than seconds so that
// power-of-two buckets stay exact.
type metricDef struct {
	name, unit, description string
	histogram               bool
	attributes              []string // allowed data point attribute keys
}

// histogramMetrics are emitted as histograms. mdatagen v0.161.0 cannot
// declare them as such (no exponential histograms; its code for `histogram`
// metrics does not compile), so metadata.yaml declares them as cumulative sums
// whose extended_documentation starts with histogramNote; TestMetricDefs
// checks that exactly these metrics carry the note.
var histogramMetrics = map[string]bool{
	metadata.MetricsInfo.EbpfTCPConnectionDuration.Name:       true,
	metadata.MetricsInfo.EbpfTCPSrtt.Name:                     true,
	metadata.MetricsInfo.EbpfSchedRunqueueLatency.Name:        true,
	metadata.MetricsInfo.EbpfMemoryDirectReclaimDuration.Name: true,
	metadata.MetricsInfo.EbpfTCPEdgeSrtt.Name:                 true,
}

const histogramNote = "**Emitted as a histogram**"

// declaredMetric is the part of a metadata.yaml metric the receiver uses.
type declaredMetric struct {
	Description string   `yaml:"description"`
	ExtendedDoc string   `yaml:"extended_documentation"`
	Unit        string   `yaml:"unit"`
	Attributes  []string `yaml:"attributes"`
	Sum         *struct {
		ValueType   string `yaml:"value_type"`
		Monotonic   bool   `yaml:"monotonic"`
		Aggregation string `yaml:"aggregation_temporality"`
	} `yaml:"sum"`
}

// declaredMetrics parses the metrics section of metadata.yaml. The receiver
// emits cumulative monotonic int sums and, for histogramMetrics, cumulative
// histograms; any other declaration is an error.
func declaredMetrics(raw []byte) (map[string]metricDef, error) {
	var doc struct {
		Metrics map[string]declaredMetric `yaml:"metrics"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("metadata.yaml: %w", err)
	}
	defs := make(map[string]metricDef, len(doc.Metrics))
	for name, m := range doc.Metrics {
		if m.Sum == nil || m.Sum.ValueType != "int" || !m.Sum.Monotonic || m.Sum.Aggregation != "cumulative" {
			return nil, fmt.Errorf("metadata.yaml: metric %s: declare it as a cumulative monotonic int sum "+
				"(histograms too, with the %q note)", name, histogramNote)
		}
		if hist, noted := histogramMetrics[name], strings.HasPrefix(m.ExtendedDoc, histogramNote); hist != noted {
			return nil, fmt.Errorf("metadata.yaml: metric %s: emitted as histogram=%v, but its extended_documentation "+
				"note %q present=%v", name, hist, histogramNote, noted)
		}
		defs[name] = metricDef{name: name, unit: m.Unit, description: strings.TrimSpace(m.Description),
			histogram: histogramMetrics[name], attributes: m.Attributes}
	}
	return defs, nil
}

var metricDefs = func() map[string]metricDef {
	defs, err := declaredMetrics(metadataYAML)
	if err != nil {
		panic(err) // the embedded file is part of the build; TestMetricDefs covers it
	}
	return defs
}()

// declared returns the definition of a metric named in the generated
// metadata.MetricsInfo, which ties every use to a metric in metadata.yaml at
// compile time.
func declared(info any) metricDef {
	name := reflect.ValueOf(info).FieldByName("Name").String()
	d, ok := metricDefs[name]
	if !ok {
		panic("metric " + name + " is not declared in metadata.yaml")
	}
	return d
}

// Network attribute keys of the TCP metrics, peer logs and edges. The edge's side has no semconv
// key; k8s_tagging's network_map reads it under this name.
const (
	attrPeerAddress    = string(semconv.NetworkPeerAddressKey)
	attrPeerPort       = string(semconv.NetworkPeerPortKey)
	attrIODirection    = string(semconv.NetworkIODirectionKey)
	attrConnectionSide = "tcp.connection.side"
)

var (
	// TCP
	metricTCPOpened          = declared(metadata.MetricsInfo.EbpfTCPConnectionsOpened)
	metricTCPClosed          = declared(metadata.MetricsInfo.EbpfTCPConnectionsClosed)
	metricTCPDuration        = declared(metadata.MetricsInfo.EbpfTCPConnectionDuration)
	metricTCPIO              = declared(metadata.MetricsInfo.EbpfTCPIo)
	metricTCPSRTT            = declared(metadata.MetricsInfo.EbpfTCPSrtt)
	metricTCPRetransmits     = declared(metadata.MetricsInfo.EbpfTCPRetransmits)
	metricTCPResets          = declared(metadata.MetricsInfo.EbpfTCPResets)
	metricTCPPeerClosed      = declared(metadata.MetricsInfo.EbpfTCPPeerConnectionsClosed)
	metricTCPPeerIO          = declared(metadata.MetricsInfo.EbpfTCPPeerIo)
	metricTCPPeerRetransmits = declared(metadata.MetricsInfo.EbpfTCPPeerRetransmits)

	// TCP edges (tcp.edges)
	metricEdgeOpened      = declared(metadata.MetricsInfo.EbpfTCPEdgeConnectionsOpened)
	metricEdgeClosed      = declared(metadata.MetricsInfo.EbpfTCPEdgeConnectionsClosed)
	metricEdgeFailed      = declared(metadata.MetricsInfo.EbpfTCPEdgeConnectionsFailed)
	metricEdgeIO          = declared(metadata.MetricsInfo.EbpfTCPEdgeIo)
	metricEdgeRetransmits = declared(metadata.MetricsInfo.EbpfTCPEdgeRetransmits)
	metricEdgeSRTT        = declared(metadata.MetricsInfo.EbpfTCPEdgeSrtt)

	// Scheduler
	metricRunqLatency     = declared(metadata.MetricsInfo.EbpfSchedRunqueueLatency)
	metricContextSwitches = declared(metadata.MetricsInfo.EbpfSchedContextSwitches)
	metricCPUTime         = declared(metadata.MetricsInfo.EbpfSchedCPUTime)
	metricProcessStarts   = declared(metadata.MetricsInfo.EbpfSchedProcessesStarted)
	metricExecs           = declared(metadata.MetricsInfo.EbpfSchedExecs)
	metricProcessExits    = declared(metadata.MetricsInfo.EbpfSchedProcessesExited)

	// Memory
	metricPagesAllocated = declared(metadata.MetricsInfo.EbpfMemoryPagesAllocated)
	metricDirectReclaim  = declared(metadata.MetricsInfo.EbpfMemoryDirectReclaimDuration)
	metricExtfrag        = declared(metadata.MetricsInfo.EbpfMemoryFragmentationEvents)
	metricOOMKills       = declared(metadata.MetricsInfo.EbpfMemoryOomKills)
)

// disabledMetrics returns the names of the metrics switched off with
// `metrics: {<name>: {enabled: false}}`.
func disabledMetrics(mc metadata.MetricsConfig) map[string]bool {
	off := map[string]bool{}
	v, t := reflect.ValueOf(mc), reflect.TypeOf(mc)
	for i := range t.NumField() {
		if !v.Field(i).FieldByName("Enabled").Bool() {
			off[t.Field(i).Tag.Get("mapstructure")] = true
		}
	}
	return off
}

// unsupportedMetricSettings rejects the per-metric attribute selection and
// aggregation_strategy that the generated MetricsConfig accepts: the receiver
// always emits every attribute of a metric, and ignoring the setting silently
// would be worse than refusing it.
func unsupportedMetricSettings(mc metadata.MetricsConfig) []error {
	var errs []error
	v, def, t := reflect.ValueOf(mc), reflect.ValueOf(metadata.DefaultMetricsConfig()), reflect.TypeOf(mc)
	for i := range t.NumField() {
		for _, f := range []struct{ field, key string }{{"EnabledAttributes", "attributes"}, {"AggregationStrategy", "aggregation_strategy"}} {
			got := v.Field(i).FieldByName(f.field)
			if got.IsValid() && !reflect.DeepEqual(got.Interface(), def.Field(i).FieldByName(f.field).Interface()) {
				errs = append(errs, fmt.Errorf("metrics: %s: %s is not supported by the ebpf receiver (it always emits every attribute of a metric): remove the key",
					t.Field(i).Tag.Get("mapstructure"), f.key))
			}
		}
	}
	return errs
}
