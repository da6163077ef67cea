//go:build e2e

package e2e

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// Config-loading fuzz of our components through the binary: `otelcol-custom validate` on
// malformed configurations of the ebpf receiver, the k8s_tagging processor, the
// prometheus_remote_write exporter and the watchfile: provider. Every run must end without a panic
// or a Go stack dump; a rejected configuration must say which key is wrong. The in-process fuzz
// targets (FuzzConfigUnmarshal in each package) explore far more inputs; this test proves the
// same holds in the shipped binary, with the collector's own config pipeline around them.

// validateRun is one `validate` invocation and what its output must show.
type validateRun struct {
	name string
	args []string // after "validate"
	// want are substrings a rejection must contain (the key); wantAny accepts any one of them.
	want, wantAny []string
	// mayPass: a random mutation can leave a valid configuration; only crashes count then.
	mayPass bool
}

// validateEnv sets the variables shipped and testdata configs read (node name from the downward API).
var validateEnv = []string{"K8S_NODE_NAME=node-1", "K8S_TAGGING_TEST_NODE=node-1"}

var crashMarkers = regexp.MustCompile(`(?m)^panic: |^goroutine \d+ \[|runtime error: |fatal error: `)

func checkValidateRun(t *testing.T, r validateRun) {
	t.Helper()
	out, code := runCommand(t, validateEnv, append([]string{"validate"}, r.args...)...)
	if m := crashMarkers.FindString(out); m != "" {
		t.Fatalf("validate %v crashed (%q):\n%s", r.args, m, proctest.Tail(out, 4000))
	}
	if code == 0 {
		if !r.mayPass {
			t.Fatalf("validate %v accepted an invalid configuration:\n%s", r.args, out)
		}
		return
	}
	require.Containsf(t, out, "Error:", "validate %v exited %d without an error message:\n%s", r.args, code, out)
	for _, w := range r.want {
		assert.Containsf(t, out, w, "validate %v: the error must name %q:\n%s", r.args, w, out)
	}
	if len(r.wantAny) > 0 {
		found := false
		for _, w := range r.wantAny {
			found = found || strings.Contains(out, w)
		}
		assert.Truef(t, found, "validate %v: the error must name one of %q:\n%s", r.args, r.wantAny, out)
	}
}

// component places one component configuration into a complete collector configuration.
type component struct {
	kind, typ string // "receivers", "ebpf"
	testdata  string // the package's testdata/config.yaml
}

var ourConfigComponents = []component{
	{"receivers", "ebpf", "receiver/ebpfreceiver/testdata/config.yaml"},
	{"processors", "k8s_tagging", "processor/k8staggingprocessor/testdata/config.yaml"},
	{"exporters", "prometheus_remote_write", "exporter/prometheusremotewriteexporter/testdata/config.yaml"},
}

// collectorConfig wraps body (the component's configuration) as component id in a pipeline.
func (c component) collectorConfig(id string, body any) map[string]any {
	otlp := map[string]any{"protocols": map[string]any{"grpc": map[string]any{"endpoint": "127.0.0.1:0"}}}
	cfg := map[string]any{
		"receivers": map[string]any{"otlp": otlp},
		"exporters": map[string]any{"nop": nil},
	}
	pipeline := map[string]any{"receivers": []any{"otlp"}, "exporters": []any{"nop"}}
	name := "metrics"
	switch c.kind {
	case "receivers":
		cfg["receivers"] = map[string]any{id: body}
		pipeline["receivers"] = []any{id}
	case "processors":
		cfg["processors"] = map[string]any{id: body}
		pipeline["processors"] = []any{id}
		name = "traces"
	case "exporters":
		cfg["exporters"] = map[string]any{id: body}
		pipeline["exporters"] = []any{id}
	}
	cfg["service"] = map[string]any{"pipelines": map[string]any{name: pipeline}}
	return cfg
}

func yamlFile(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	require.NoError(t, err)
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// targetedCases are invalid values of documented keys: wrong types, negative durations, out of
// range and overflowing numbers, empty strings, bad regular expressions, unknown keys. Each must
// be rejected with an error naming the key.
func targetedCases() map[string][]struct{ body, want string } {
	type c = struct{ body, want string }
	return map[string][]c{
		"ebpf": {
			{"collection_interval: -5s", "collection_interval"},
			{"collection_interval: 0s", "collection_interval"},
			{"collection_interval: soon", "collection_interval"},
			{"collection_interval: [1s]", "collection_interval"},
			{"histogram: ''", "histogram"},
			{"histogram: linear", "histogram"},
			{"on_start_error: ''", "on_start_error"},
			{"max_cgroups: -1", "max_cgroups"},
			{"max_cgroups: 0", "max_cgroups"},
			{"max_cgroups: many", "max_cgroups"},
			{"max_cgroups: 99999999999999999999999", "max_cgroups"},
			{"max_cgroups: 4294971392", "max_cgroups"},
			{"ring_buffer_size: 100000", "ring_buffer_size"},
			{"ring_buffer_size: 2147483648", "ring_buffer_size"},
			{"ring_buffer_size: 4295229440", "ring_buffer_size"},
			{"ring_buffer_size: -4096", "ring_buffer_size"},
			{"cgroups: {include: ['(']}", "cgroups.include[0]"},
			{"cgroups: {exclude: ['[a-']}", "cgroups.exclude[0]"},
			{"cgroups: {include: [{a: 1}]}", "include"},
			{"cgroups: [a, b]", "cgroups"},
			{"tcp: {enabled: yes-please}", "enabled"},
			{"tcp: {enabeld: true}", "enabeld"},
			{"tcp: {per_peer: {enabled: true, max_series: 0}}", "tcp.per_peer.max_series"},
			{"tcp: {per_peer: {enabled: true, max_series: 4294967396}}", "max_series"},
			{"tcp: {enabled: false, spans: true}", "tcp.spans"},
			{"tcp: 7", "tcp"},
			{"scheduler: {enabled: 2}", "enabled"},
			{"program_stats: sometimes", "program_stats"},
			{"fuzz_unknown: 1", "fuzz_unknown"},
		},
		"k8s_tagging": {
			{"auth_type: ''", "auth_type"},
			{"auth_type: tls", "auth_type"},
			{"auth_type: [none]", "auth_type"},
			{"kube_api_qps: -1", "kube_api_qps"},
			{"kube_api_qps: 1e39", "kube_api_qps"},
			{"kube_api_qps: .nan", "kube_api_qps"},
			{"kube_api_burst: -1", "kube_api_burst"},
			{"kube_api_burst: 99999999999999999999", "kube_api_burst"},
			{"wait_for_metadata_timeout: -1s", "wait_for_metadata_timeout"},
			{"wait_for_metadata: true\nwait_for_metadata_timeout: 0s", "wait_for_metadata_timeout"},
			{"watch_sync_period: forever", "watch_sync_period"},
			{"pod_delete_grace_period: -30s", "pod_delete_grace_period"},
			{"hold_on_miss: {timeout: 2s, max_batches: 0}", "hold_on_miss.max_batches"},
			{"hold_on_miss: {timeout: 2h, max_batches: 1}", "hold_on_miss.timeout"},
			{"hold_on_miss: {max_batches: -3}", "hold_on_miss.max_batches"},
			{"extract: {metadata: [k8s.pod.name, no.such.field]}", "extract.metadata[1]"},
			{"extract: {labels: [{key_regex: '(unclosed'}]}", "extract.labels[0].key_regex"},
			{"extract: {labels: [{key: a, key_regex: b}]}", "extract.labels[0]"},
			{"extract: {annotations: [{tag_name: x}]}", "extract.annotations[0]"},
			{"extract: {labels: [{key: a, from: galaxy}]}", "extract.labels[0].from"},
			{"extract: everything", "extract"},
			{"filter: {labels: [{key: app, op: like}]}", "filter.labels[0].op"},
			{"filter: {labels: [{key: 'not a valid key!', value: x}]}", "filter.labels[0]"},
			{"filter: {labels: [{key: ''}]}", "filter.labels[0].key"},
			{"filter: {fields: [{key: a, op: exists}]}", "filter.fields[0].op"},
			// filter.node_from_env_var naming an unset variable is valid: validate runs outside the pod.
			{"pod_association: [{sources: [{from: dns}]}]", "pod_association[0].sources[0].from"},
			{"pod_association: [{sources: []}]", "pod_association[0].sources"},
			{"pod_association: [{sources: [{from: resource_attribute}]}]", "pod_association[0].sources[0].name"},
			{"exclude: {pods: [{name: '*bad'}]}", "exclude.pods[0].name"},
			{"exclude: {pods: [{name: ''}]}", "exclude.pods[0].name"},
			{"fuzz_unknown: 1", "fuzz_unknown"},
		},
		"prometheus_remote_write": {
			{"endpoint: ''", "endpoint"},
			{"endpoint: '://no-scheme'", "endpoint"},
			{"endpoint: http://x:1\nshards: -2", "shards"},
			{"endpoint: http://x:1\nshards: many", "shards"},
			{"endpoint: http://x:1\nmax_samples_per_second: -1", "max_samples_per_second"},
			{"endpoint: http://x:1\nmax_samples_per_second: .nan", "max_samples_per_second"},
			{"endpoint: http://x:1\ntimeout: -1s", "timeout"},
			{"endpoint: http://x:1\ntimeout: later", "timeout"},
			{"endpoint: http://x:1\nmax_batch_size_bytes: -1", "max_batch_size_bytes"},
			{"endpoint: http://x:1\nmax_batch_request_parallelism: 0", "max_batch_request_parallelism"},
			{"endpoint: http://x:1\ncompression: gzip", "compression"},
			{"endpoint: http://x:1\nprotobuf_message: io.prometheus.write.v4.Request", "protobuf_message"},
			{"endpoint: http://x:1\ntranslation_strategy: ''\nprotobuf_message: ''\nnamespace: [a]", "namespace"},
			{"endpoint: http://x:1\ntranslation_strategy: Bogus", "translation_strategy"},
			{"endpoint: http://x:1\nremote_write_queue: {queue_size: -1}", "remote_write_queue.queue_size"},
			{"endpoint: http://x:1\nremote_write_queue: {num_consumers: -1}", "remote_write_queue.num_consumers"},
			{"endpoint: http://x:1\nretry_on_failure: {initial_interval: -1s}", "initial_interval"},
			{"endpoint: http://x:1\nretry_on_failure: {no_such_nested: 1}", "no_such_nested"},
			{"endpoint: http://x:1\nheaders: notamap", "headers"},
			{"endpoint: http://x:1\ninclude_metadata_keys: [content-type]", "include_metadata_keys"},
			{"endpoint: http://x:1\nsending_queue: {queue_size: -5}", "queue_size"},
			{"endpoint: http://x:1\ntls: {min_version: '0.9'}", "min_version"},
			{"endpoint: http://x:1\nexternal_labels: notamap", "external_labels"},
			{"endpoint: http://x:1\nexternal_labels: {'': v}", "external_labels"},
			{"http: {endpoint: http://x:1, no_such_http: 1}", "no_such_http"},
			{"endpoint: http://x:1\nfuzz_unknown: 1", "fuzz_unknown"},
		},
	}
}

// mutation rewrites one node of a decoded component configuration.
type mutation struct {
	name string
	// apply changes m (a mapping of the component's configuration or a nested mapping) at key;
	// it returns the key an error must name, or "" when the result may be valid.
	apply func(m map[string]any, key string, rng *rand.Rand) (mustName string)
}

var wrongValues = []any{"zzz", -1, -9999999999, 1e30, 99999999999999999999.0, "", "-5s", "(((", []any{}, []any{"a", 1},
	map[string]any{"a": 1}, true, nil, strings.Repeat("x", 5000)}

var mutations = []mutation{
	{"replace a value by a random one", func(m map[string]any, key string, rng *rand.Rand) string {
		m[key] = wrongValues[rng.Intn(len(wrongValues))]
		return ""
	}},
	{"add an unknown key", func(m map[string]any, _ string, rng *rand.Rand) string {
		k := fmt.Sprintf("fuzz_unknown_%d", rng.Intn(1000))
		m[k] = wrongValues[rng.Intn(len(wrongValues))]
		return k
	}},
	{"delete a key", func(m map[string]any, key string, _ *rand.Rand) string {
		delete(m, key)
		return ""
	}},
	{"misspell a key", func(m map[string]any, key string, _ *rand.Rand) string {
		v := m[key]
		delete(m, key)
		m[key+"x"] = v
		return key + "x"
	}},
}

// randomMapping picks a mapping inside v (v itself or a nested one) and a key of it.
func randomMapping(v map[string]any, rng *rand.Rand) (map[string]any, string) {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys) // map order is random; the seed must reproduce the case
	if len(keys) == 0 {
		return v, "fuzz_empty"
	}
	k := keys[rng.Intn(len(keys))]
	// headers and external_labels are free-form maps: any key is valid there.
	if nested, ok := v[k].(map[string]any); ok && len(nested) > 0 && k != "headers" && k != "external_labels" && rng.Intn(2) == 0 {
		return randomMapping(nested, rng)
	}
	return v, k
}

// byteMutate damages the YAML text itself: truncation, inserted bytes (also invalid UTF-8), a
// duplicated or deleted line, tabs for indentation.
func byteMutate(b []byte, rng *rand.Rand) []byte {
	s := string(b)
	switch rng.Intn(5) {
	case 0:
		return b[:rng.Intn(len(b)+1)]
	case 1:
		i := rng.Intn(len(b) + 1)
		junk := []string{"\xff\xfe", ": :", "{", "]", "&a *a", "!!binary x", "\t", "\x00", "<<: *missing", "? "}[rng.Intn(10)]
		return []byte(s[:i] + junk + s[i:])
	case 2:
		lines := strings.Split(s, "\n")
		i := rng.Intn(len(lines))
		lines = append(lines[:i+1], lines[i:]...)
		return []byte(strings.Join(lines, "\n"))
	case 3:
		lines := strings.Split(s, "\n")
		i := rng.Intn(len(lines))
		return []byte(strings.Join(append(lines[:i], lines[i+1:]...), "\n"))
	default:
		return []byte(strings.Replace(s, "  ", "\t", 1+rng.Intn(3)))
	}
}

// TestConfigFuzzOurComponents runs `validate` on targeted invalid values of every documented key of
// our components, on random mutations of their testdata/config.yaml sections (structure and raw
// YAML text) and on broken watchfile: URIs and files. Set E2E_CONFIG_FUZZ_SEED to explore other
// random cases (the seed is logged).
func TestConfigFuzzOurComponents(t *testing.T) {
	seed := int64(7)
	if s := os.Getenv("E2E_CONFIG_FUZZ_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("random mutations with E2E_CONFIG_FUZZ_SEED=%d", seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	var runs []validateRun

	targeted := targetedCases()
	for _, c := range ourConfigComponents {
		for i, tc := range targeted[c.typ] {
			var body map[string]any
			require.NoErrorf(t, yaml.Unmarshal([]byte(tc.body), &body), "case %q", tc.body)
			p := yamlFile(t, dir, fmt.Sprintf("%s-targeted-%d.yaml", c.typ, i), c.collectorConfig(c.typ, body))
			runs = append(runs, validateRun{
				name: fmt.Sprintf("%s/targeted/%s", c.typ, strings.ReplaceAll(tc.body, "\n", "; ")),
				args: []string{"--config", p}, want: []string{c.typ, tc.want},
			})
		}

		raw, err := os.ReadFile(proctest.RepoPath(t, filepath.FromSlash(c.testdata)))
		require.NoError(t, err)
		var sections map[string]any
		require.NoError(t, yaml.Unmarshal(raw, &sections))
		ids := make([]string, 0, len(sections))
		for id := range sections {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		picks := make([]string, 10)
		for i := range picks {
			picks[i] = ids[rng.Intn(len(ids))]
		}
		// A mutation of a section the binary accepts must be reported by the mutated key; testdata
		// also holds invalid sections, whose errors may be about what was already wrong.
		valid := acceptedSections(t, dir, c, sections, picks)
		for i, id := range picks {
			body, _ := sections[id].(map[string]any)
			body = deepCopy(body)
			if body == nil {
				body = map[string]any{}
			}
			m, key := randomMapping(body, rng)
			mu := mutations[rng.Intn(len(mutations))]
			mustName := mu.apply(m, key, rng)
			cfg := c.collectorConfig(id, body)
			p := yamlFile(t, dir, fmt.Sprintf("%s-random-%d.yaml", c.typ, i), cfg)
			run := validateRun{name: fmt.Sprintf("%s/random/%s: %s %q", c.typ, id, mu.name, key), args: []string{"--config", p}}
			switch {
			case mustName != "" && valid[id]:
				run.want = []string{mustName}
			case mustName != "":
				run.wantAny = []string{id}
			default:
				// Whatever the collector says, it must say which component.
				run.mayPass, run.wantAny = true, []string{id}
			}
			runs = append(runs, run)

			// The same configuration with its YAML text damaged.
			text, err := yaml.Marshal(cfg)
			require.NoError(t, err)
			bp := filepath.Join(dir, fmt.Sprintf("%s-bytes-%d.yaml", c.typ, i))
			require.NoError(t, os.WriteFile(bp, byteMutate(text, rng), 0o600))
			runs = append(runs, validateRun{name: fmt.Sprintf("%s/bytes/%d", c.typ, i), args: []string{"--config", bp}, mayPass: true})
		}
	}

	runs = append(runs, watchfileCases(t, dir)...)

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			checkValidateRun(t, r)
		})
	}
}

// acceptedSections runs `validate` once on each distinct section in ids and says which pass.
func acceptedSections(t *testing.T, dir string, c component, sections map[string]any, ids []string) map[string]bool {
	t.Helper()
	accepted := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, id := range ids {
		if _, seen := accepted[id]; seen {
			continue
		}
		accepted[id] = false
		p := yamlFile(t, dir, fmt.Sprintf("%s-base-%d.yaml", c.typ, i), c.collectorConfig(id, sections[id]))
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, code := runCommand(t, validateEnv, "validate", "--config", p)
			mu.Lock()
			accepted[id] = code == 0
			mu.Unlock()
		}()
	}
	wg.Wait()
	return accepted
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, _ := yaml.Marshal(m)
	var out map[string]any
	_ = yaml.Unmarshal(b, &out)
	return out
}

// watchfileCases: URIs and files the watchfile: provider must refuse with a message naming the
// problem, and an invalid component configuration read through it (same errors as file:).
func watchfileCases(t *testing.T, dir string) []validateRun {
	t.Helper()
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, content, 0o600))
		return p
	}
	ebpf := ourConfigComponents[0]
	bad := yamlFile(t, dir, "watch-bad-ebpf.yaml", ebpf.collectorConfig("ebpf", map[string]any{"collection_interval": "-1s"}))
	good := yamlFile(t, dir, "watch-good.yaml", ebpf.collectorConfig("ebpf", map[string]any{}))
	garbage := make([]byte, 512)
	rand.New(rand.NewSource(3)).Read(garbage)
	unreadable := write("watch-unreadable.yaml", []byte("receivers: {}\n"))
	require.NoError(t, os.Chmod(unreadable, 0))
	runs := []validateRun{
		{name: "watchfile/no path", args: []string{"--config", "watchfile:"}, want: []string{"has no path"}},
		{name: "watchfile/missing file", args: []string{"--config", "watchfile:" + filepath.Join(dir, "nope", "config.yaml")}, want: []string{"no such file"}},
		{name: "watchfile/directory", args: []string{"--config", "watchfile:" + dir}, want: []string{"is a directory"}},
		{name: "watchfile/empty file", args: []string{"--config", "watchfile:" + write("watch-empty.yaml", nil)}, wantAny: []string{"empty", "pipeline"}},
		{name: "watchfile/binary garbage", args: []string{"--config", "watchfile:" + write("watch-garbage.yaml", garbage)}, wantAny: []string{"YAML", "yaml"}},
		{name: "watchfile/yaml list", args: []string{"--config", "watchfile:" + write("watch-list.yaml", []byte("- a\n- b\n"))}, wantAny: []string{"Conf", "map"}},
		{name: "watchfile/yaml scalar", args: []string{"--config", "watchfile:" + write("watch-scalar.yaml", []byte("hello\n"))}, wantAny: []string{"Conf", "map"}},
		{name: "watchfile/bad component", args: []string{"--config", "watchfile:" + bad}, want: []string{"collection_interval"}},
		{name: "watchfile/valid with bad --set", args: []string{"--config", "watchfile:" + good, "--set", "receivers::ebpf::histogram=linear"}, want: []string{"histogram"}},
		{name: "watchfile/relative traversal", args: []string{"--config", "watchfile:../../../../../../../../nonexistent/x.yaml"}, want: []string{"no such file"}},
	}
	if os.Geteuid() != 0 { // root reads a file whatever its mode
		runs = append(runs, validateRun{name: "watchfile/unreadable", args: []string{"--config", "watchfile:" + unreadable}, want: []string{"permission denied"}})
	}
	// Sanity: the provider itself works, so the rejections above are about the input.
	out, code := runCommand(t, nil, "validate", "--config", "watchfile:"+good)
	require.Equalf(t, 0, code, "a valid config through watchfile: must validate:\n%s", out)
	return runs
}
