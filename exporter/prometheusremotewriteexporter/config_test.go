package prometheusremotewriteexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	if err := sub.Unmarshal(cfg); err != nil {
		return cfg, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	def := createDefaultConfig().(*Config)
	assert.Equal(t, def.HTTP, cfg.HTTP)
	assert.Equal(t, def.BackOffConfig, cfg.BackOffConfig)
	assert.Equal(t, def.RemoteWriteQueue, cfg.RemoteWriteQueue)
	assert.Equal(t, "http://some.url:9411/api/prom/push", cfg.HTTP.Endpoint)
	assert.Equal(t, 50*time.Millisecond, cfg.BackOffConfig.InitialInterval)
	assert.Equal(t, 3_000_000, cfg.MaxBatchSizeBytes)
	assert.True(t, cfg.RemoteWriteQueue.Enabled)
	assert.Equal(t, 10000, cfg.RemoteWriteQueue.QueueSize)
	assert.Equal(t, 5, cfg.shardCount())
	assert.True(t, cfg.TargetInfo.Enabled)
	assert.True(t, cfg.AddMetricSuffixes)
	assert.False(t, cfg.remoteWriteV2())
}

func TestLoadConfigContribExample(t *testing.T) {
	cfg, err := loadConfig(t, "2")
	require.NoError(t, err)
	assert.Equal(t, "test-space", cfg.Namespace)
	assert.Equal(t, "http://localhost:8888", cfg.HTTP.Endpoint, "top-level endpoint moves into http")
	assert.Equal(t, "/var/lib/mycert.pem", cfg.HTTP.TLS.CAFile)
	v, _ := cfg.HTTP.Headers.Get("X-Scope-OrgID")
	assert.Equal(t, "234", string(v))
	assert.Equal(t, 10*time.Second, cfg.BackOffConfig.InitialInterval)
	assert.Equal(t, 10*time.Minute, cfg.BackOffConfig.MaxElapsedTime)
	assert.Equal(t, map[string]string{"key1": "value1", "key2": "value2"}, cfg.ExternalLabels)
	assert.True(t, cfg.ResourceToTelemetrySettings.Enabled)
	assert.False(t, cfg.AddMetricSuffixes)
	assert.Equal(t, 10, cfg.shardCount(), "max_batch_request_parallelism sets the default shard count")
	assert.Equal(t, 2000, cfg.RemoteWriteQueue.QueueSize)
	q := cfg.queueConfig()
	require.True(t, q.HasValue())
	assert.Equal(t, int64(2000), q.Get().QueueSize)
	assert.Equal(t, 1, q.Get().NumConsumers, "one queue consumer keeps series in order; shards parallelize")
}

func TestLoadConfigHTTPBlockWins(t *testing.T) {
	cfg, err := loadConfig(t, "http_block")
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:9090/api/v1/write", cfg.HTTP.Endpoint)
	v, _ := cfg.HTTP.Headers.Get("X-Scope-OrgID")
	assert.Equal(t, "7", string(v))
}

func TestLoadConfigOwnKeys(t *testing.T) {
	cfg, err := loadConfig(t, "ours")
	require.NoError(t, err)
	assert.Equal(t, 8, cfg.shardCount())
	assert.InDelta(t, 50000, cfg.MaxSamplesPerSecond, 0)
	assert.True(t, cfg.remoteWriteV2())
	assert.True(t, cfg.SendMetadata)
	assert.True(t, cfg.CreatedMetric.Enabled)
	assert.False(t, cfg.TargetInfo.Enabled)
	assert.True(t, cfg.WAL.HasValue())
	assert.Equal(t, []string{"x-org-id"}, cfg.IncludeMetadataKeys)
	q := cfg.queueConfig()
	require.True(t, q.HasValue())
	assert.Equal(t, int64(100), q.Get().QueueSize)
	assert.True(t, q.Get().BlockOnOverflow)
	withSuffixes, utf8 := cfg.withSuffixesAndUTF8()
	assert.True(t, withSuffixes)
	assert.True(t, utf8)
}

func TestLoadConfigDisabledQueue(t *testing.T) {
	cfg, err := loadConfig(t, "disabled_queue")
	require.NoError(t, err)
	assert.False(t, cfg.queueConfig().HasValue())
	assert.Equal(t, 10, cfg.shardCount())
}

func TestLoadConfigInvalid(t *testing.T) {
	for name, want := range map[string]string{
		"negative_queue_size":                       "remote_write_queue.queue_size can't be negative",
		"zero_queue_size":                           "remote_write_queue.queue_size is 0",
		"negative_num_consumers":                    "remote_write_queue.num_consumers can't be negative",
		"less_than_1_max_batch_request_parallelism": "max_batch_request_parallelism must be at least 1",
		"non_snappy_compression_type":               "compression must be snappy",
		"unknown_protobuf_message":                  "protobuf_message must be",
		"invalid_translation_strategy":              "invalid translation_strategy",
		"v1_no_utf8":                                "only remote write 2.0",
		"reserved_metadata_keys":                    "include_metadata_keys entry \"content-type\"",
		"negative_max_batch_size_bytes":             "max_batch_size_bytes must be greater than 0",
		"negative_shards":                           "shards can't be negative",
		"negative_rate":                             "max_samples_per_second must be a finite number >= 0",
		"nan_rate":                                  "max_samples_per_second must be a finite number >= 0",
		"scheme_less_endpoint":                      `endpoint "localhost:8888" must be an absolute http:// or https:// URL`,
		"empty_external_label_name":                 "external_labels: a label name is empty",
		"both_resource_settings":                    "cannot both be set",
		"unknown_key":                               "no_such_key",
		"unknown_nested_key":                        "no_such_nested",
		"unknown_http_key":                          "no_such_http",
		"unknown_tls_key":                           "no_such_tls",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestDisabledTargetInfo(t *testing.T) {
	cfg, err := loadConfig(t, "disabled_target_info")
	require.NoError(t, err)
	assert.False(t, cfg.TargetInfo.Enabled)
}

func TestLoadConfigStorageOnlyQueue(t *testing.T) {
	cfg, err := loadConfig(t, "storage_only_queue")
	require.NoError(t, err)
	q := cfg.queueConfig()
	require.True(t, q.HasValue())
	assert.Equal(t, 1, q.Get().NumConsumers, "one consumer keeps series in order")
	assert.Positive(t, q.Get().QueueSize)
	require.NotNil(t, q.Get().StorageID)
	assert.Equal(t, "file_storage/prw", q.Get().StorageID.String())
}
