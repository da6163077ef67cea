package watchfileprovider // import "github.com/otelcol-custom/otelcol-custom/confmap/provider/watchfileprovider"

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// collectorSections are the top-level keys the collector's configuration accepts (otelcol
// v0.161.0 rejects any other key when it unmarshals).
var collectorSections = []string{"receivers", "processors", "exporters", "connectors", "extensions", "service"}

// contentShape records what kind of document the collector was given, so a change can be held to
// the same kind: a whole collector config must stay one, while a file referenced inline (for
// example ${watchfile:/secrets/token}) may hold any YAML value.
type contentShape struct {
	mapping         bool
	collectorConfig bool
}

func shapeOf(content []byte) contentShape {
	var doc any
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return contentShape{}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return contentShape{}
	}
	s := contentShape{mapping: true}
	for key := range m {
		if slices.Contains(collectorSections, key) {
			s.collectorConfig = true
		}
	}
	return s
}

// checkContent runs the checks that need no component factories. They catch what partial writes
// and hand edits typically produce; NewCollectorValidator or the `validate` subcommand catch the
// rest (unknown component types, unknown or mistyped fields, dangling pipeline references).
func checkContent(content []byte, prev contentShape) error {
	if len(bytes.TrimSpace(content)) == 0 {
		return errors.New("the file is empty (a writer that truncates before writing leaves it so for a moment; if that is the final content, restore the configuration)")
	}
	var doc any
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return fmt.Errorf("the file is not valid YAML: %w", err)
	}
	if !prev.mapping {
		return nil
	}
	m, ok := doc.(map[string]any)
	if !ok {
		if doc == nil {
			return errors.New("the file holds no YAML value (only comments?); it must hold the configuration mapping it held before")
		}
		return fmt.Errorf("the file holds a YAML %s, but it held a mapping before; the configuration must be a YAML mapping", yamlKind(doc))
	}
	if len(m) == 0 {
		return errors.New("the file holds an empty mapping; it must hold the configuration it held before")
	}
	if !prev.collectorConfig {
		return nil
	}
	var problems []string
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if !slices.Contains(collectorSections, key) {
			problems = append(problems, fmt.Sprintf("unknown top-level key %q (valid keys: %s)", key, strings.Join(collectorSections, ", ")))
			continue
		}
		switch v := m[key].(type) {
		case nil, map[string]any:
		default:
			problems = append(problems, fmt.Sprintf("%q must be a mapping, got a YAML %s", key, yamlKind(v)))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func yamlKind(v any) string {
	switch v.(type) {
	case []any:
		return "sequence"
	case map[string]any:
		return "mapping"
	case string:
		return "string"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("scalar (%T)", v)
	}
}
