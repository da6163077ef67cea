// Package distribution lets a Go program run otelcol-custom in-process: the same component
// factories, confmap providers and build info as the otelcol-custom binary.
//
//	col, err := otelcol.NewCollector(distribution.Settings("yaml:" + cfg))
//	...
//	err = col.Run(ctx)
package distribution

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
)

// BuildInfo describes the distribution; it matches what `otelcol-custom --version` prints.
var BuildInfo = component.BuildInfo{
	Command:     "otelcol-custom",
	Description: "otelcol-custom, an OpenTelemetry Collector distribution for Kubernetes",
	Version:     "0.161.0-custom",
}

// Settings returns collector settings that resolve the given config URIs (for example
// "file:/etc/otelcol/config.yaml" or "yaml:receivers: ...") exactly as the binary's --config does.
func Settings(configURIs ...string) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: BuildInfo,
		Factories: Components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs:              configURIs,
				ProviderFactories: ProviderFactories(),
				DefaultScheme:     "env",
			},
		},
	}
}
