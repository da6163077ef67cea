package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// checkKnownKeys rejects keys the configuration does not define. The squashed
// confighttp.ClientConfig implements confmap.Unmarshaler, which makes the decoder treat every key
// as used, so a misspelt key would otherwise be ignored silently. Each top-level key is checked
// against the mapstructure names of Config (squashed structs included) and each section is decoded
// on its own, strictly, into the field of scratch (a pointer to a default configuration, thrown
// away afterwards). It knows nothing of Config itself, so that config.go depends on it and not the
// other way round.
func checkKnownKeys(conf *confmap.Conf, scratch any) error {
	return checkStruct(conf, reflect.ValueOf(scratch).Elem(), "")
}

var unmarshalerType = reflect.TypeFor[confmap.Unmarshaler]()

func checkStruct(conf *confmap.Conf, v reflect.Value, prefix string) error {
	known := map[string]reflect.Value{}
	collectFields(v, known)
	var unknown []string
	for key := range conf.ToStringMap() {
		field, ok := known[key]
		if !ok {
			unknown = append(unknown, prefix+key)
			continue
		}
		if field.Kind() != reflect.Struct {
			continue
		}
		sub, err := conf.Sub(key)
		if err != nil {
			return fmt.Errorf("%s%s: %w", prefix, key, err)
		}
		// Structs with their own Unmarshal (other than configoptional.Optional, which decodes its
		// value strictly) may accept anything: check them field by field.
		if reflect.PointerTo(field.Type()).Implements(unmarshalerType) && !strings.HasPrefix(field.Type().Name(), "Optional[") {
			if err := checkStruct(sub, field, prefix+key+"::"); err != nil {
				return err
			}
			continue
		}
		if err := sub.Unmarshal(field.Addr().Interface()); err != nil {
			return fmt.Errorf("%s%s: %w", prefix, key, err)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown configuration keys %q for the prometheus_remote_write exporter; check their spelling against the README", unknown)
	}
	return nil
}

// collectFields maps mapstructure names to the fields of v, descending into squashed structs.
func collectFields(v reflect.Value, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("mapstructure")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" && strings.Contains(opts, "squash") {
			collectFields(v.Field(i), out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := out[name]; !dup {
			out[name] = v.Field(i)
		}
	}
}
