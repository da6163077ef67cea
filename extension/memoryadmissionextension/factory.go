package memoryadmissionextension // import "github.com/otelcol-custom/otelcol-custom/extension/memoryadmissionextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-custom/otelcol-custom/extension/memoryadmissionextension/internal/metadata"
)

// defaultRequestReserveMiB is configgrpc's default max_recv_msg_size_mib.
const defaultRequestReserveMiB = 4

// NewFactory returns the factory of the memory_admission extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{RequestReserveMiB: defaultRequestReserveMiB}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newAdmission(cfg.(*Config), heapObjectBytes, set.Logger), nil
}
