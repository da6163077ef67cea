// Package configfuzz holds what the config fuzz targets of our components share: seeds from the
// component's own testdata, and decoding a document the way the collector loads a component's
// configuration.
package configfuzz

import (
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"go.yaml.in/yaml/v3"
)

// AddTestdataSeeds adds every top-level section of the package's testdata/config.yaml as a seed,
// so fuzzing starts from configurations that exercise every key the tests know.
func AddTestdataSeeds(f *testing.F) {
	f.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	var sections map[string]any
	if err := yaml.Unmarshal(raw, &sections); err != nil {
		f.Fatal(err)
	}
	for _, v := range sections {
		b, err := yaml.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

// Accepted decodes the YAML document doc into cfg (which must hold the component's defaults) as
// the collector does — unknown keys are errors, a config's own Unmarshal runs — and reports whether
// it decoded and then passed Validate. Rejection is the expected outcome for most fuzz inputs.
func Accepted(doc string, cfg any) bool {
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m == nil {
		return false
	}
	if err := confmap.NewFromStringMap(m).Unmarshal(cfg); err != nil {
		return false
	}
	return confmap.Validate(cfg) == nil
}
