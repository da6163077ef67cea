package deploy_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"
)

// ownFactories are the components of this repository the manifests configure; their blocks are
// checked with the components' own unmarshalling (unknown keys are errors) and Validate, so a
// renamed or mistyped key fails here and not in a pod.
var ownFactories = map[string]component.Factory{
	"receivers." + ebpfreceiver.NewFactory().Type().String():         ebpfreceiver.NewFactory(),
	"processors." + k8staggingprocessor.NewFactory().Type().String(): k8staggingprocessor.NewFactory(),
}

func TestOwnComponentConfigs(t *testing.T) {
	checked := map[string]bool{}
	for _, cc := range collectorContainers(t, allManifests(t)) {
		for _, section := range []string{"receivers", "processors", "exporters"} {
			for id, raw := range mapAt(cc.config, section) {
				typ, _, _ := strings.Cut(id, "/")
				f, ours := ownFactories[section+"."+typ]
				if !ours {
					continue
				}
				// Validate reads the environment (node_from_env_var): give it the container's.
				for k, v := range cc.env(t, "10.244.0.10") {
					t.Setenv(k, v)
				}
				cfg := f.CreateDefaultConfig()
				block, _ := raw.(map[string]any)
				if err := confmap.NewFromStringMap(block).Unmarshal(cfg); err != nil {
					t.Errorf("%s: %s.%s: %v", cc, section, id, err)
					continue
				}
				if err := confmap.Validate(cfg); err != nil {
					t.Errorf("%s: %s.%s: %v", cc, section, id, err)
				}
				checked[section+"."+typ] = true
			}
		}
	}
	for k := range ownFactories {
		if !checked[k] {
			t.Errorf("no manifest configures %s", k)
		}
	}
}
