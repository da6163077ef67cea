package configcompat

import (
	"maps"
	"slices"
	"strings"
	"testing"

	contribprw "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	contribk8s "github.com/open-telemetry/opentelemetry-collector-contrib/processor/k8sattributesprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"
	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"
)

// dropIn is one of our components that replaces a contrib component: a contrib config block must
// work unchanged under our component's key.
type dropIn struct {
	name           string
	contrib, ours  any // default configs (createDefaultConfig of each factory)
	missing        map[string]string
	defaultsDiffer map[string]string
}

func dropIns() []dropIn {
	return []dropIn{
		{
			name:           "prometheus_remote_write (contrib prometheusremotewriteexporter v0.161.0)",
			contrib:        contribprw.NewFactory().CreateDefaultConfig(),
			ours:           prometheusremotewriteexporter.NewFactory().CreateDefaultConfig(),
			missing:        prwMissing,
			defaultsDiffer: prwDefaultsDiffer,
		},
		{
			name:           "k8s_tagging (contrib k8sattributesprocessor v1.0.0)",
			contrib:        contribk8s.NewFactory().CreateDefaultConfig(),
			ours:           k8staggingprocessor.NewFactory().CreateDefaultConfig(),
			missing:        k8sMissing,
			defaultsDiffer: k8sDefaultsDiffer,
		},
	}
}

// TestContribKeysAccepted walks contrib's config type and ours by their mapstructure keys and fails
// on any key contrib accepts that ours does not, unless the allow-list gives the reason. A stale
// allow-list entry (the key is accepted now, or contrib no longer has it) fails too, so the list
// stays the exact set of differences.
func TestContribKeysAccepted(t *testing.T) {
	for _, d := range dropIns() {
		t.Run(d.name, func(t *testing.T) {
			contrib, ours := Keys(d.contrib), Keys(d.ours)
			require.Greater(t, len(contrib), 20, "the walk found too few of contrib's keys: %v", slices.Sorted(maps.Keys(contrib)))
			var missing []string
			for key, kind := range contrib {
				if _, ok := ours[key]; ok {
					continue
				}
				if kind == section && ours[parent(key)] == leaf {
					continue // ours decodes the enclosing value whole (e.g. as text)
				}
				if _, allowed := d.missing[key]; allowed {
					continue
				}
				missing = append(missing, key)
			}
			slices.Sort(missing)
			assert.Empty(t, missing, "keys contrib accepts and ours rejects as unknown; implement them or add each to the allow-list with its reason")
			for key := range d.missing {
				_, inContrib := contrib[key]
				_, inOurs := ours[key]
				assert.Truef(t, inContrib && !inOurs, "stale allow-list entry %q (contrib has it: %v, ours has it: %v)", key, inContrib, inOurs)
			}
			t.Logf("%d contrib keys checked, %d allowed omissions", len(contrib), len(d.missing))
		})
	}
}

// TestContribDefaultsKept compares the default of every key both configs have (from each
// factory's createDefaultConfig, marshalled as the collector prints configs); a different default
// must be in the allow-list with its reason.
func TestContribDefaultsKept(t *testing.T) {
	for _, d := range dropIns() {
		t.Run(d.name, func(t *testing.T) {
			contribKeys, ourKeys := Keys(d.contrib), Keys(d.ours)
			contrib, err := Defaults(d.contrib, contribKeys)
			require.NoError(t, err)
			ours, err := Defaults(d.ours, ourKeys)
			require.NoError(t, err)
			compared := 0
			var differ []string
			for key, want := range contrib {
				got, ok := ours[key]
				if !ok {
					// Ours has no default there: a key it does not have (the key test reports
					// it) or one left unset; unset must then be what contrib's default means.
					if _, ourKey := ourKeys[key]; ourKey && want != "<none>" && !d.isAllowedDiff(key) {
						differ = append(differ, key+": contrib "+want+", ours unset")
					}
					continue
				}
				compared++
				if got != want && !d.isAllowedDiff(key) {
					differ = append(differ, key+": contrib "+want+", ours "+got)
				}
			}
			for key, got := range ours {
				if _, ok := contrib[key]; !ok && contribKeys[key] == leaf && got != "<none>" && !d.isAllowedDiff(key) {
					differ = append(differ, key+": contrib unset, ours "+got)
				}
			}
			slices.Sort(differ)
			assert.Empty(t, differ, "defaults that differ from contrib's; match them or add each to the allow-list with its reason")
			for key := range d.defaultsDiffer {
				assert.Truef(t, contrib[key] != ours[key], "stale allow-list entry %q: both default to %s", key, contrib[key])
			}
			require.Greater(t, compared, 10, "too few defaults compared")
			t.Logf("%d defaults compared, %d allowed differences", compared, len(d.defaultsDiffer))
		})
	}
}

func (d dropIn) isAllowedDiff(key string) bool {
	_, ok := d.defaultsDiffer[key]
	return ok
}

func parent(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}
