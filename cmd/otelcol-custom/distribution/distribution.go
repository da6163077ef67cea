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

	"github.com/otelcol-custom/otelcol-custom/confmap/provider/watchfileprovider"
)

// BuildInfo describes the distribution; it matches what `otelcol-custom --version` prints.
var BuildInfo = component.BuildInfo{
	Command:     "otelcol-custom",
	Description: "otelcol-custom, an OpenTelemetry Collector distribution for Kubernetes",
	Version:     "0.161.0-custom",
}

// Settings returns collector settings that resolve the given config URIs (for example
// "file:/etc/otelcol/config.yaml" or "yaml:receivers: ...") exactly as the binary's --config does.
//
// A watchfile: URI reloads the embedded collector when the file changes. The binary checks a
// changed file by running its own `validate` subcommand; an embedding program is not that binary,
// so here the check runs in-process on the configuration these settings resolve (every URI, with
// the changed file in place). A change that fails it is logged and the collector keeps running
// its current configuration instead of stopping on a failed reload. Pass every config URI to
// Settings rather than appending to the returned value, or the check will not see them.
func Settings(configURIs ...string) otelcol.CollectorSettings {
	set := otelcol.CollectorSettings{
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
	validated := watchfileprovider.NewFactoryWithOptions(
		watchfileprovider.WithConfigValidator(watchfileprovider.NewCollectorValidator(set)))
	scheme := validated.Create(confmap.ProviderSettings{}).Scheme()
	factories := set.ConfigProviderSettings.ResolverSettings.ProviderFactories
	for i, f := range factories {
		if f.Create(confmap.ProviderSettings{}).Scheme() == scheme {
			factories[i] = validated
		}
	}
	return set
}
