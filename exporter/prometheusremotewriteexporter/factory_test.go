package prometheusremotewriteexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/featuregate"
)

func TestFactoryTypeAndAlias(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, component.MustNewType("prometheus_remote_write"), f.Type())
	aliased, ok := f.(interface{ DeprecatedAlias() component.Type })
	require.True(t, ok, "factory exposes its deprecated alias")
	assert.Equal(t, component.MustNewType("prometheusremotewrite"), aliased.DeprecatedAlias())
}

// Command lines written for contrib pass its feature gates; they must be accepted.
func TestContribFeatureGatesRegistered(t *testing.T) {
	for _, id := range []string{
		"exporter.prometheusremotewritexporter.enableSendingRW2",
		"exporter.prometheusremotewritexporter.RetryOn429",
		"exporter.prometheusremotewritexporter.EnableMultipleWorkers",
		"exporter.prometheusremotewritexporter.removeTopLevelHTTPSettings",
		"exporter.prometheusremotewrite.DisableResourceToTelemetryConversion",
	} {
		require.NoError(t, featuregate.GlobalRegistry().Set(id, true), id)
		require.NoError(t, featuregate.GlobalRegistry().Set(id, false), id)
	}
}
