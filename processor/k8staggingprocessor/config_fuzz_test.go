package k8staggingprocessor

import (
	"math"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-custom/otelcol-custom/internal/configfuzz"
	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/metadata"
)

// FuzzConfigUnmarshal decodes and validates arbitrary YAML as k8s_tagging configuration, the way
// the collector does (defaults, then the user's keys with unknown keys rejected, then Validate).
// Errors are expected; a panic is a bug, and so is a configuration that validates but that the
// processor then refuses or panics on when it is created (association rules, extraction
// regexes, exclude patterns, API server selectors).
//
// `go test` runs the seed corpus (every section of testdata/config.yaml and hand-written
// malformed ones); explore with
// `go test -run '^$' -fuzz FuzzConfigUnmarshal ./processor/k8staggingprocessor`.
func FuzzConfigUnmarshal(f *testing.F) {
	configfuzz.AddTestdataSeeds(f)
	for _, seed := range []string{
		"auth_type: ''",
		"auth_type: tls",
		"auth_type: [serviceAccount]",
		"kube_api_qps: -1",
		"kube_api_burst: 99999999999999999999",
		"kube_api_qps: 1e400",
		"kube_api_qps: 1e39",
		"kube_api_qps: .nan",
		"wait_for_metadata: true\nwait_for_metadata_timeout: 0s",
		"wait_for_metadata_timeout: -1s",
		"watch_sync_period: forever",
		"pod_delete_grace_period: -30s",
		"hold_on_miss: {timeout: 2s}",
		"hold_on_miss: {timeout: 2h, max_batches: 1}",
		"hold_on_miss: {max_batches: -1}",
		"extract: {metadata: [k8s.pod.name, no.such.field]}",
		"extract: {labels: [{key_regex: '(unclosed'}]}",
		"extract: {labels: [{key: a, key_regex: b}]}",
		"extract: {annotations: [{tag_name: x}]}",
		"extract: {labels: [{key: a, from: galaxy}]}",
		"extract: {deployment_name_from_replicaset: maybe}",
		"filter: {labels: [{key: app, op: like}]}",
		"filter: {labels: [{key: 'not a valid key!', value: x}]}",
		"filter: {labels: [{key: app, value: 'not a valid value!'}]}",
		"filter: {fields: [{key: '', value: x}]}",
		"filter: {fields: [{key: a, op: exists}]}",
		"filter: {node_from_env_var: K8S_TAGGING_FUZZ_UNSET_VARIABLE}",
		"pod_association: [{sources: []}]",
		"pod_association: [{sources: [{from: resource_attribute}]}]",
		"pod_association: [{sources: [{from: dns}]}]",
		"pod_association: [{sources: [{from: connection}]}, {sources: [{from: connection}]}]",
		"pod_association: [{sources: [{from: connection}, {from: connection}, {from: connection}, {from: connection}, {from: connection}]}]",
		"exclude: {pods: [{name: ''}]}",
		"exclude: {pods: [{name: '*bad'}]}",
		"exclude: {pods: 7}",
		"no_such_key: 1",
		"extract: {metadata: [], unknown: 1}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		cfg := createDefaultConfig().(*Config)
		if !configfuzz.Accepted(doc, cfg) {
			return
		}
		// Accepted: creating the processor must work. Passthrough skips registering with the shared
		// pod cache (global state) but compiles everything else; the selectors sent to the API
		// server are checked on their own. Label selector syntax (Kubernetes' rules for label keys
		// and values) is only checked when the processor is created, which `otelcol-custom validate`
		// does too; that error must still name the entry.
		if _, _, err := selectors(cfg.Filter); err != nil && !strings.HasPrefix(err.Error(), "filter.labels[") {
			t.Fatalf("validated filter cannot be sent to the API server and the error does not name the key: %v", err)
		}
		if math.IsInf(float64(cfg.KubeAPIQPS), 0) || math.IsNaN(float64(cfg.KubeAPIQPS)) {
			t.Fatalf("validated kube_api_qps %v is not a finite rate", cfg.KubeAPIQPS)
		}
		local := *cfg
		local.Passthrough = true
		if _, err := newTagger(processortest.NewNopSettings(metadata.Type), &local); err != nil {
			t.Fatalf("validated configuration cannot create the processor: %v", err)
		}
	})
}
