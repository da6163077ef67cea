package k8staggingprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/metadata"
)

func loadTestdata(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	def := loadTestdata(t, "")
	assert.Equal(t, createDefaultConfig(), def)
	require.NoError(t, confmap.Validate(def))

	full := loadTestdata(t, "2")
	require.NoError(t, confmap.Validate(full))
	assert.Equal(t, AuthTypeKubeConfig, full.AuthType)
	assert.Equal(t, []string{"k8s.pod.name", "k8s.pod.uid", "k8s.pod.ip", "k8s.deployment.name", "k8s.namespace.name",
		"k8s.node.name", "k8s.pod.start_time", "k8s.cluster.uid"}, full.Extract.Metadata)
	assert.Equal(t, []FieldExtractConfig{{TagName: "l1", Key: "label1", From: "pod"}, {TagName: "l2", Key: "label2", From: "pod"}}, full.Extract.Labels)
	assert.Equal(t, "ns2", full.Filter.Namespace)
	assert.Equal(t, []FieldFilterConfig{{Key: "key1", Value: "value1"}, {Key: "key2", Value: "value2", Op: "not-equals"}}, full.Filter.Labels)
	assert.Len(t, full.Association, 4)
	assert.Equal(t, PodAssociationSourceConfig{From: "connection", Name: "ip"}, full.Association[3].Sources[0])
	ls, fs, err := selectors(full.Filter)
	require.NoError(t, err)
	assert.Equal(t, "key1=value1,key2!=value2", ls)
	assert.Equal(t, "spec.nodeName=ip-111.us-west-2.compute.internal,key1=value1,key2!=value2", fs)

	agent := loadTestdata(t, "agent")
	require.NoError(t, confmap.Validate(agent))
	assert.Equal(t, HoldOnMissConfig{Timeout: 2 * time.Second, MaxBatches: 128}, agent.HoldOnMiss)
	_, fs, err = selectors(agent.Filter)
	require.NoError(t, err)
	assert.Empty(t, fs, "node_from_env_var is resolved when the cache starts (podcache.Settings.NodeFromEnvVar), not here")
	assert.Equal(t, "K8S_TAGGING_TEST_NODE", agent.Filter.NodeFromEnvVar)

	legacy := loadTestdata(t, "legacy_deployment_name")
	require.NoError(t, confmap.Validate(legacy))
	require.NotNil(t, legacy.Extract.DeploymentNameFromReplicaSet)
	assert.True(t, compileExtraction(legacy.Extract).preciseDeployment)

	for _, name := range []string{"3", "custom_intervals", "otel_annotations", "passthrough_mode", "extract_from_namespace", "filter_label_exists"} {
		cfg := loadTestdata(t, name)
		assert.NoError(t, confmap.Validate(cfg), name)
	}
	ls, _, err = selectors(loadTestdata(t, "filter_label_exists").Filter)
	require.NoError(t, err)
	assert.Equal(t, "app,!deprecated-label", ls)
}

func TestUnknownKeyRejected(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	err := confmap.NewFromStringMap(map[string]any{"extract": map[string]any{"metdata": []any{"k8s.pod.name"}}}).Unmarshal(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "metdata")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings; empty means valid
	}{
		{name: "defaults", yaml: `{}`},
		{name: "bad auth type", yaml: `auth_type: certificate`, wantErr: []string{"auth_type", `"certificate"`}},
		{name: "tls auth not implemented", yaml: `auth_type: tls`, wantErr: []string{"auth_type", "not implemented"}},
		{name: "context is ignored without kubeConfig, as in contrib", yaml: `context: prod`},
		{name: "negative qps", yaml: `kube_api_qps: -1`, wantErr: []string{"kube_api_qps"}},
		{name: "qps beyond float32", yaml: `kube_api_qps: 1e39`, wantErr: []string{"kube_api_qps: must be a finite number"}},
		{name: "qps not a number", yaml: `kube_api_qps: .nan`, wantErr: []string{"kube_api_qps: must be a finite number"}},
		{name: "negative burst", yaml: `kube_api_burst: -1`, wantErr: []string{"kube_api_burst"}},
		{name: "burst beyond int64", yaml: `kube_api_burst: 99999999999999999999`, wantErr: []string{"kube_api_burst: must be between 0", "negative or too large"}},
		{name: "huge burst", yaml: `kube_api_burst: 5000000`, wantErr: []string{"and 1000000 requests"}},
		{name: "negative watch sync", yaml: `watch_sync_period: -20s`, wantErr: []string{"watch_sync_period"}},
		{name: "zero watch sync disables resync", yaml: `watch_sync_period: 0s`},
		{name: "negative grace", yaml: `pod_delete_grace_period: -30s`, wantErr: []string{"pod_delete_grace_period"}},
		{name: "negative wait timeout", yaml: `wait_for_metadata_timeout: -1s`, wantErr: []string{"wait_for_metadata_timeout"}},
		{name: "wait without timeout", yaml: "wait_for_metadata: true\nwait_for_metadata_timeout: 0s", wantErr: []string{"wait_for_metadata_timeout"}},
		{name: "hold negative", yaml: "hold_on_miss: {timeout: -1s}", wantErr: []string{"hold_on_miss.timeout"}},
		{name: "hold too long", yaml: "hold_on_miss: {timeout: 5m}", wantErr: []string{"hold_on_miss.timeout", "at most 1m"}},
		{name: "hold without slots", yaml: "hold_on_miss: {timeout: 2s, max_batches: 0}", wantErr: []string{"hold_on_miss.max_batches"}},
		{name: "hold ok", yaml: "hold_on_miss: {timeout: 2s, max_batches: 10}"},
		{name: "bad metadata field", yaml: "extract: {metadata: [k8s.pod.name, invalid.metadata.field]}", wantErr: []string{"extract.metadata[1]", "invalid.metadata.field"}},
		{name: "deprecated cluster name", yaml: "extract: {metadata: [k8s.cluster.name]}", wantErr: []string{"extract.metadata[0]", "k8s.cluster.name"}},
		{name: "all metadata fields", yaml: "extract: {metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.pod.hostname, k8s.pod.start_time, k8s.pod.ip, k8s.deployment.name, k8s.deployment.uid, k8s.replicaset.name, k8s.replicaset.uid, k8s.daemonset.name, k8s.daemonset.uid, k8s.statefulset.name, k8s.statefulset.uid, k8s.job.name, k8s.job.uid, k8s.cronjob.name, k8s.cronjob.uid, k8s.node.name, k8s.node.uid, k8s.container.name, container.id, container.image.name, container.image.tag, container.image.tags, container.image.repo_digests, service.namespace, service.name, service.version, service.instance.id, k8s.cluster.uid]}"},
		{name: "key and key_regex", yaml: "extract: {labels: [{tag_name: l1, key: label1, key_regex: 'label\\d'}]}", wantErr: []string{"extract.labels[0]", "not both"}},
		{name: "annotation key and key_regex", yaml: "extract: {annotations: [{key: a, key_regex: b}]}", wantErr: []string{"extract.annotations[0]", "not both"}},
		{name: "neither key nor regex", yaml: "extract: {labels: [{tag_name: x}]}", wantErr: []string{"extract.labels[0]", "key or key_regex"}},
		{name: "bad from labels", yaml: "extract: {labels: [{key: l, from: unknown}]}", wantErr: []string{"extract.labels[0].from", `"unknown"`}},
		{name: "bad from annotations", yaml: "extract: {annotations: [{key: a, from: container}]}", wantErr: []string{"extract.annotations[0].from"}},
		{name: "every valid from", yaml: "extract: {labels: [{key: a, from: pod}, {key: a, from: namespace}, {key: a, from: node}, {key: a, from: deployment}, {key: a, from: replicaset}, {key: a, from: statefulset}, {key: a, from: daemonset}, {key: a, from: job}, {key: a, from: cronjob}]}"},
		{name: "bad key_regex", yaml: "extract: {labels: [{key_regex: '['}]}", wantErr: []string{"extract.labels[0].key_regex", "regular expression"}},
		{name: "bad annotation key_regex", yaml: "extract: {annotations: [{key_regex: '(a'}]}", wantErr: []string{"extract.annotations[0].key_regex"}},
		{name: "bad label op", yaml: "filter: {labels: [{key: label, value: v1, op: unknown}]}", wantErr: []string{"filter.labels[0].op", `"unknown"`}},
		{name: "exists not allowed on fields", yaml: "filter: {fields: [{key: field, value: v1, op: exists}]}", wantErr: []string{"filter.fields[0].op", `"exists"`}},
		{name: "label ops ok", yaml: "filter: {labels: [{key: a, value: b}, {key: a, value: b, op: equals}, {key: c, value: d, op: not-equals}, {key: e, op: exists}, {key: f, op: does-not-exist}]}"},
		{name: "empty label key", yaml: "filter: {labels: [{value: b}]}", wantErr: []string{"filter.labels[0].key"}},
		// Validation runs outside the pod (`otelcol-custom validate` in CI): the variable is read at Start.
		{name: "unset node env is valid", yaml: "filter: {node_from_env_var: K8S_TAGGING_DEFINITELY_UNSET}"},
		{name: "too many sources", yaml: `pod_association: [{sources: [{from: resource_attribute, name: custom-attribute}, {from: resource_attribute, name: ip}, {from: resource_attribute, name: k8s.pod.ip}, {from: resource_attribute, name: host.name}, {from: connection, name: ip}]}]`, wantErr: []string{"pod_association[0].sources", "at most 4"}},
		{name: "four sources ok", yaml: `pod_association: [{sources: [{from: resource_attribute, name: k8s.pod.uid}, {from: resource_attribute, name: container.id}, {from: resource_attribute, name: k8s.pod.name}, {from: resource_attribute, name: k8s.namespace.name}]}]`},
		{name: "bad source from", yaml: `pod_association: [{sources: [{from: header, name: ip}]}]`, wantErr: []string{"pod_association[0].sources[0].from", `"header"`}},
		{name: "missing source name", yaml: `pod_association: [{sources: [{from: resource_attribute}]}]`, wantErr: []string{"pod_association[0].sources[0].name"}},
		{name: "empty sources", yaml: `pod_association: [{sources: []}]`, wantErr: []string{"pod_association[0].sources"}},
		{name: "duplicate association", yaml: `pod_association: [{sources: [{from: resource_attribute, name: container.id}]}, {sources: [{from: resource_attribute, name: container.id}]}]`, wantErr: []string{"pod_association[1]", "pod_association[0]"}},
		{name: "duplicate reordered", yaml: `pod_association: [{sources: [{from: resource_attribute, name: k8s.pod.uid}, {from: resource_attribute, name: container.id}]}, {sources: [{from: resource_attribute, name: container.id}, {from: resource_attribute, name: k8s.pod.uid}]}]`, wantErr: []string{"pod_association[1]"}},
		{name: "distinct associations", yaml: `pod_association: [{sources: [{from: resource_attribute, name: k8s.pod.uid}, {from: resource_attribute, name: container.id}]}, {sources: [{from: resource_attribute, name: k8s.pod.uid}]}]`},
		{name: "unindexable association", yaml: `pod_association: [{sources: [{from: resource_attribute, name: k8s.pod.name}]}]`, wantErr: []string{"pod_association[0]", "cannot identify a pod"}},
		{name: "custom attribute with ip ok", yaml: `pod_association: [{sources: [{from: resource_attribute, name: k8s.pod.ip}, {from: resource_attribute, name: l1}]}]`},
		{name: "bad exclude regex", yaml: `exclude: {pods: [{name: '('}]}`, wantErr: []string{"exclude.pods[0].name"}},
		{name: "empty exclude", yaml: `exclude: {pods: [{name: ''}]}`, wantErr: []string{"exclude.pods[0].name"}},
		{name: "several errors at once", yaml: "watch_sync_period: -1s\nextract: {metadata: [nope]}", wantErr: []string{"watch_sync_period", "extract.metadata[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(tt.yaml), &raw))
			cfg := createDefaultConfig().(*Config)
			require.NoError(t, confmap.NewFromStringMap(raw).Unmarshal(cfg))
			err := confmap.Validate(cfg)
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}
