package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadata"

// The edge metrics (tcp.edges), declared in metadata.yaml.
var (
	metricEdgeOpened      = declared(metadata.MetricsInfo.EbpfTCPEdgeConnectionsOpened)
	metricEdgeClosed      = declared(metadata.MetricsInfo.EbpfTCPEdgeConnectionsClosed)
	metricEdgeFailed      = declared(metadata.MetricsInfo.EbpfTCPEdgeConnectionsFailed)
	metricEdgeIO          = declared(metadata.MetricsInfo.EbpfTCPEdgeIo)
	metricEdgeRetransmits = declared(metadata.MetricsInfo.EbpfTCPEdgeRetransmits)
	metricEdgeSRTT        = declared(metadata.MetricsInfo.EbpfTCPEdgeSrtt)

	edgeMetrics = []metricDef{metricEdgeOpened, metricEdgeClosed, metricEdgeFailed, metricEdgeIO, metricEdgeRetransmits, metricEdgeSRTT}
)
