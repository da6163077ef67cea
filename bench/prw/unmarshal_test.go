package prw

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

func unmarshal(cfg component.Config, m map[string]any) error {
	return confmap.NewFromStringMap(m).Unmarshal(cfg)
}
