package configcompat

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// Key kinds: a leaf takes a scalar, a list of scalars, a map of scalars or anything decoded as
// text (durations, component IDs); a section holds further keys.
const (
	leaf    = "leaf"
	section = "section"
)

// Keys lists every configuration key a config struct accepts, as dotted paths from the component's
// block: "remote_write_queue.num_consumers", "pod_association[].sources[].from" (a list of
// sections), "headers.*" (a map whose values are sections). It follows the decoder's rules
// (go-viper/mapstructure as confmap configures it): the mapstructure tag names a key, ",squash"
// lifts the fields of an embedded or named struct into the parent, an untagged field is keyed by
// its Go name, "-" and unexported fields are not keys, pointers are followed, and a
// configoptional.Optional[T] takes T's keys.
func Keys(cfg any) map[string]string {
	out := map[string]string{}
	walk(reflect.TypeOf(cfg), "", out, map[reflect.Type]bool{})
	return out
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	confUnmarshaler = reflect.TypeFor[confmap.Unmarshaler]()
)

func walk(t reflect.Type, path string, out map[string]string, onPath map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isOptional(t) {
		// Optional[T] decodes its block into T (the `value` field holds it).
		f, ok := t.FieldByName("value")
		if !ok {
			panic(fmt.Sprintf("%s: configoptional.Optional without a value field", t))
		}
		walk(f.Type, path, out, onPath)
		return
	}
	if isLeaf(t) {
		if path != "" {
			out[path] = leaf
		}
		return
	}
	if path != "" {
		out[path] = section
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		walk(t.Elem(), path+"[]", out, onPath)
		return
	case reflect.Map:
		walk(t.Elem(), path+".*", out, onPath)
		return
	case reflect.Struct:
	default:
		panic(fmt.Sprintf("%s: unexpected %s", path, t.Kind()))
	}
	if onPath[t] {
		return // a recursive type: its keys are already listed above
	}
	onPath[t] = true
	defer delete(onPath, t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "-" {
			continue
		}
		// A squashed embedded struct lends its exported fields even when its type is unexported.
		if hasOption(opts, "squash") && (f.IsExported() || f.Anonymous) {
			walk(f.Type, path, out, onPath)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if hasOption(opts, "remain") {
			out[join(path, "*")] = leaf
			continue
		}
		if name == "" {
			name = f.Name
		}
		walk(f.Type, join(path, name), out, onPath)
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func hasOption(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

func isOptional(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.PkgPath() == "go.opentelemetry.io/collector/config/configoptional" &&
		strings.HasPrefix(t.Name(), "Optional[")
}

// isLeaf reports whether a value of t is decoded whole: scalars, text-decoded types, and
// lists or maps of them. A struct that decodes itself from a map (confmap.Unmarshaler) is still
// walked: its mapstructure fields are the keys it passes on to the decoder.
func isLeaf(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshaler) && !reflect.PointerTo(t).Implements(confUnmarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		return false
	case reflect.Pointer:
		return isLeaf(t.Elem())
	case reflect.Slice, reflect.Array, reflect.Map:
		return isLeaf(t.Elem())
	default:
		return true
	}
}

// Defaults flattens a default config into key → value for every leaf key of keys, marshalled the
// way the collector prints configs (durations as text, pointers dereferenced). Keys under an
// unset optional section or a nil pointer have no default and are absent.
func Defaults(cfg any, keys map[string]string) (map[string]string, error) {
	conf := confmap.New()
	if err := conf.Marshal(cfg); err != nil {
		return nil, err
	}
	out := map[string]string{}
	flatten(conf.ToStringMap(), "", keys, out)
	return out, nil
}

func flatten(v any, path string, keys map[string]string, out map[string]string) {
	if m, ok := v.(map[string]any); ok && keys[path] != leaf {
		for k, sub := range m {
			flatten(sub, join(path, k), keys, out)
		}
		return
	}
	if keys[path] == leaf {
		out[path] = canonical(v)
	}
}

// canonical prints a value so that equal settings print equally: an empty list or map is the same
// as none, map entries are sorted.
func canonical(v any) string {
	switch x := v.(type) {
	case nil:
		return "<none>"
	case []any:
		if len(x) == 0 {
			return "<none>"
		}
	case map[string]any:
		if len(x) == 0 {
			return "<none>"
		}
		ks := make([]string, 0, len(x))
		for k := range x {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		parts := make([]string, len(ks))
		for i, k := range ks {
			parts[i] = k + ": " + canonical(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
