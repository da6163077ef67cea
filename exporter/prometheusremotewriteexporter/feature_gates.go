package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import "go.opentelemetry.io/collector/featuregate"

// The feature gates of contrib's exporter at v0.161.0, registered under the same ids so that
// command lines written for contrib (--feature-gates=exporter.prometheusremotewritexporter.enableSendingRW2)
// keep working. This exporter needs none of them: remote write 2.0, 429 retries and parallel
// sending are always on. Two keep contrib's meaning because they change which configuration is
// accepted.
//
// mdatagen would register them with MustRegister, which panics when contrib's exporter is linked
// into the same binary (a peer build, a benchmark). Packages without a dependency between them are
// initialized in import-path order, so contrib's ("github.com/open-telemetry/...") runs first;
// here a gate that already exists is reused instead of registered again.
var (
	disableResourceToTelemetryGate = registerGate("exporter.prometheusremotewrite.DisableResourceToTelemetryConversion",
		"When enabled, resource_to_telemetry_conversion is rejected and resource_constant_labels must be used instead (same meaning as in contrib).",
		"https://github.com/open-telemetry/opentelemetry-collector-contrib/issues/48862", "v0.160.0")
	removeTopLevelHTTPSettingsGate = registerGate("exporter.prometheusremotewritexporter.removeTopLevelHTTPSettings",
		"When enabled, top-level HTTP client settings (endpoint, tls, ...) are rejected; configure them under the http block (same meaning as in contrib).",
		"https://github.com/open-telemetry/opentelemetry-collector-contrib/issues/46209", "v0.158.0")
	_ = registerGate("exporter.prometheusremotewritexporter.EnableMultipleWorkers",
		"Accepted for compatibility with contrib; no effect (series are always sharded across ordered senders).",
		"https://github.com/open-telemetry/opentelemetry-collector-contrib/pull/36134", "v0.118.0")
	_ = registerGate("exporter.prometheusremotewritexporter.RetryOn429",
		"Accepted for compatibility with contrib; no effect (HTTP 429 is always retried, honouring Retry-After).",
		"https://github.com/open-telemetry/opentelemetry-collector-contrib/pull/31924", "v0.101.0")
	_ = registerGate("exporter.prometheusremotewritexporter.enableSendingRW2",
		"Accepted for compatibility with contrib; no effect (protobuf_message alone selects remote write 2.0).",
		"https://github.com/open-telemetry/opentelemetry-collector-contrib/pull/35888", "v0.125.0")
)

func registerGate(id, description, url, from string) *featuregate.Gate {
	var existing *featuregate.Gate
	featuregate.GlobalRegistry().VisitAll(func(g *featuregate.Gate) {
		if g.ID() == id {
			existing = g
		}
	})
	if existing != nil {
		return existing
	}
	return featuregate.GlobalRegistry().MustRegister(id, featuregate.StageAlpha,
		featuregate.WithRegisterDescription(description),
		featuregate.WithRegisterReferenceURL(url),
		featuregate.WithRegisterFromVersion(from))
}
