package configcompat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
)

type walkInner struct {
	Leaf string `mapstructure:"leaf"`
}

type walkEmbedded struct {
	Squashed int `mapstructure:"squashed"`
}

type walkConfig struct {
	walkEmbedded `mapstructure:",squash"`
	Named        walkInner                          `mapstructure:",squash"`
	Duration     time.Duration                      `mapstructure:"duration"`
	ID           component.ID                       `mapstructure:"id"`
	Ptr          *walkInner                         `mapstructure:"ptr"`
	List         []walkInner                        `mapstructure:"list"`
	ListOfPtrs   []*walkInner                       `mapstructure:"list_of_ptrs"`
	Nested       [][]walkInner                      `mapstructure:"nested"`
	Strings      []string                           `mapstructure:"strings"`
	Labels       map[string]string                  `mapstructure:"labels"`
	Sections     map[string]walkInner               `mapstructure:"sections"`
	Optional     configoptional.Optional[walkInner] `mapstructure:"optional"`
	Untagged     walkInner
	Ignored      walkInner `mapstructure:"-"`
	unexported   walkInner //nolint:unused // checks that unexported fields are no keys
}

// The walk follows every construct the decoder follows.
func TestKeysWalk(t *testing.T) {
	assert.Equal(t, map[string]string{
		"squashed":            leaf,
		"leaf":                leaf,
		"duration":            leaf,
		"id":                  leaf,
		"ptr":                 section,
		"ptr.leaf":            leaf,
		"list":                section,
		"list[]":              section,
		"list[].leaf":         leaf,
		"list_of_ptrs":        section,
		"list_of_ptrs[]":      section,
		"list_of_ptrs[].leaf": leaf,
		"nested":              section,
		"nested[]":            section,
		"nested[][]":          section,
		"nested[][].leaf":     leaf,
		"strings":             leaf,
		"labels":              leaf,
		"sections":            section,
		"sections.*":          section,
		"sections.*.leaf":     leaf,
		"optional":            section,
		"optional.leaf":       leaf,
		"Untagged":            section,
		"Untagged.leaf":       leaf,
	}, Keys(&walkConfig{}))
}

func TestDefaultsFlatten(t *testing.T) {
	cfg := &walkConfig{Duration: time.Second, Labels: map[string]string{"b": "2", "a": "1"}, Ptr: &walkInner{Leaf: "p"},
		Optional: configoptional.Default(walkInner{Leaf: "unset optional: no defaults"})}
	got, err := Defaults(cfg, Keys(cfg))
	require.NoError(t, err)
	assert.Equal(t, "1s", got["duration"])
	assert.Equal(t, "{a: 1, b: 2}", got["labels"])
	assert.Equal(t, "p", got["ptr.leaf"])
	assert.NotContains(t, got, "optional.leaf")
}
