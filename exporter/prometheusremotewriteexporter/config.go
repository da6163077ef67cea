package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"errors"
	"fmt"
	"math"
	"net/textproto"
	"net/url"
	"slices"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config is the exporter configuration. Every key of contrib's prometheusremotewriteexporter at
// v0.161.0 is accepted with the same meaning and default; sending_queue, shards,
// max_samples_per_second and export_created_metric are additions.
type Config struct {
	// TimeoutSettings bounds each HTTP request (one attempt), not the whole export with its retries:
	// a backend outage must not turn into dropped data after a few seconds.
	TimeoutSettings exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// BackOffConfig drives the per-shard retries of 5xx, 429 and network errors.
	BackOffConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Namespace is prefixed to every metric name.
	Namespace string `mapstructure:"namespace"`

	// RemoteWriteQueue is contrib's queue section; it configures the in-memory queue when
	// sending_queue is not set.
	RemoteWriteQueue RemoteWriteQueue `mapstructure:"remote_write_queue"`

	// ExternalLabels are added to every series.
	ExternalLabels map[string]string `mapstructure:"external_labels"`

	// ClientConfig holds the deprecated top-level HTTP client keys (endpoint, tls, headers, ...),
	// kept because contrib still accepts them. They are moved into HTTP when no http block is set.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`

	// HTTP is the HTTP client configuration; it takes precedence over the top-level keys.
	HTTP confighttp.ClientConfig `mapstructure:"http"`

	// MaxBatchSizeBytes bounds the uncompressed size of one remote-write request.
	MaxBatchSizeBytes int `mapstructure:"max_batch_size_bytes"`

	// MaxBatchRequestParallelism is contrib's request parallelism. Here it is the default number of
	// shards when shards is not set.
	MaxBatchRequestParallelism *int `mapstructure:"max_batch_request_parallelism"`

	// ResourceToTelemetrySettings copies resource attributes to labels (deprecated in contrib in
	// favour of resource_constant_labels).
	ResourceToTelemetrySettings resourcetotelemetry.Settings `mapstructure:"resource_to_telemetry_conversion"`

	// ResourceConstantLabels selects resource attributes that become labels.
	ResourceConstantLabels resourcetotelemetry.Settings `mapstructure:"resource_constant_labels"`

	// WAL is accepted for compatibility with contrib. Durability is provided by sending_queue with a
	// storage extension instead; setting wal logs a warning saying so.
	WAL configoptional.Optional[WALConfig] `mapstructure:"wal"`

	// TargetInfo controls the target_info series built from resource attributes.
	TargetInfo TargetInfo `mapstructure:"target_info,omitempty"`

	// DisableScopeInfo drops the otel_scope_* labels.
	DisableScopeInfo bool `mapstructure:"disable_scope_info"`

	// AddMetricSuffixes adds unit and type suffixes; translation_strategy takes precedence.
	AddMetricSuffixes bool `mapstructure:"add_metric_suffixes"`

	// TranslationStrategy selects how OTLP names become Prometheus names (Prometheus' own
	// translation strategies).
	TranslationStrategy translationStrategy `mapstructure:"translation_strategy"`

	// SendMetadata sends metric metadata with remote write 1.0 (2.0 always carries it).
	SendMetadata bool `mapstructure:"send_metadata"`

	// RemoteWriteProtoMsg selects remote write 1.0 (prometheus.WriteRequest) or 2.0
	// (io.prometheus.write.v2.Request).
	RemoteWriteProtoMsg writeMessageType `mapstructure:"protobuf_message,omitempty"`

	// IncludeMetadataKeys are client metadata keys forwarded as HTTP headers.
	IncludeMetadataKeys []string `mapstructure:"include_metadata_keys"`

	// ConvertExplicitHistogramsToNHCB sends explicit-bucket histograms as native histograms with
	// custom buckets (schema -53).
	ConvertExplicitHistogramsToNHCB bool `mapstructure:"convert_explicit_histograms_to_nhcb"`

	// KeepClassicHistograms also sends the classic series when converting to NHCB.
	KeepClassicHistograms bool `mapstructure:"keep_classic_histograms"`

	// CreatedMetric emits <name>_created series for counters, histograms and summaries with remote
	// write 1.0 (2.0 carries the start timestamp in the sample itself).
	CreatedMetric CreatedMetric `mapstructure:"export_created_metric"`

	// QueueConfig is the standard exporterhelper queue. When set it replaces remote_write_queue and
	// allows a persistent queue (storage: file_storage/...).
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	// Shards is the number of concurrent requests (per tenant) and the most parts a large export
	// is cut into; each series' samples stay in order through the ordering lanes (shards.go). 0
	// means max_batch_request_parallelism, else remote_write_queue.num_consumers.
	Shards int `mapstructure:"shards"`

	// MaxSamplesPerSecond limits the samples sent per second (token bucket); 0 means unlimited.
	MaxSamplesPerSecond float64 `mapstructure:"max_samples_per_second"`
}

type translationStrategy string

// The translation strategies of Prometheus' OTLP configuration, spelt as contrib spells them.
const (
	underscoreEscapingWithSuffixes    translationStrategy = "UnderscoreEscapingWithSuffixes"
	underscoreEscapingWithoutSuffixes translationStrategy = "UnderscoreEscapingWithoutSuffixes"
	noUTF8EscapingWithSuffixes        translationStrategy = "NoUTF8EscapingWithSuffixes"
	noTranslation                     translationStrategy = "NoTranslation"
)

type writeMessageType string

// The protobuf message names of remote write 1.0 and 2.0, as used in Content-Type and by
// Prometheus' --web.remote-write-receiver.accepted-protobuf-messages.
const (
	writeV1MessageType writeMessageType = "prometheus.WriteRequest"
	writeV2MessageType writeMessageType = "io.prometheus.write.v2.Request"
)

// TargetInfo configures the target_info series.
type TargetInfo struct {
	// Enabled if false the target_info series is not sent.
	Enabled bool `mapstructure:"enabled"`
}

// CreatedMetric configures the _created series of remote write 1.0.
type CreatedMetric struct {
	Enabled bool `mapstructure:"enabled"`
}

// RemoteWriteQueue is contrib's queue configuration.
type RemoteWriteQueue struct {
	// Enabled if false, exports run synchronously in the caller.
	Enabled bool `mapstructure:"enabled"`
	// QueueSize is the maximum number of OTLP metrics batches waiting.
	QueueSize int `mapstructure:"queue_size"`
	// NumConsumers is the default number of shards (contrib: request parallelism).
	NumConsumers int `mapstructure:"num_consumers"`
}

// WALConfig is contrib's write-ahead-log section, accepted for compatibility.
type WALConfig struct {
	Directory          string        `mapstructure:"directory"`
	BufferSize         int           `mapstructure:"buffer_size"`
	TruncateFrequency  time.Duration `mapstructure:"truncate_frequency"`
	LagRecordFrequency time.Duration `mapstructure:"lag_record_frequency"`
}

const defaultMaxBatchSizeBytes = 3_000_000

// defaultHTTPClientConfig mirrors contrib's defaults.
func defaultHTTPClientConfig() confighttp.ClientConfig {
	c := confighttp.NewDefaultClientConfig()
	c.Endpoint = "http://some.url:9411/api/prom/push"
	c.ReadBufferSize = 0 // responses are tiny
	c.WriteBufferSize = 512 * 1024
	c.Timeout = exporterhelper.NewDefaultTimeoutConfig().Timeout
	return c
}

// defaultConfig is the configuration before the user's keys are applied (contrib's defaults).
func defaultConfig() *Config {
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = 50 * time.Millisecond
	return &Config{
		ExternalLabels:      map[string]string{},
		MaxBatchSizeBytes:   defaultMaxBatchSizeBytes,
		TimeoutSettings:     exporterhelper.NewDefaultTimeoutConfig(),
		BackOffConfig:       retry,
		AddMetricSuffixes:   true,
		RemoteWriteProtoMsg: writeV1MessageType,
		ClientConfig:        defaultHTTPClientConfig(),
		HTTP:                defaultHTTPClientConfig(),
		RemoteWriteQueue: RemoteWriteQueue{
			Enabled:      true,
			QueueSize:    10000,
			NumConsumers: 5,
		},
		TargetInfo:  TargetInfo{Enabled: true},
		QueueConfig: configoptional.Default(defaultSendingQueue()),
	}
}

// defaultSendingQueue is what a `sending_queue:` section starts from: exporterhelper's defaults
// with one consumer, so a user writing only `enabled: true` or `storage: file_storage/x` gets a
// working queue that keeps samples in order (the shards provide the parallelism).
func defaultSendingQueue() exporterhelper.QueueBatchConfig {
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers = 1
	return q
}

// queueConfig returns sending_queue when set, else the queue contrib derives from
// remote_write_queue. One queue consumer by default: it hands samples to the shards in queue
// order, which keeps every series in order; the shards provide the parallelism.
func (cfg *Config) queueConfig() configoptional.Optional[exporterhelper.QueueBatchConfig] {
	if cfg.QueueConfig.HasValue() {
		return cfg.QueueConfig
	}
	if cfg.tenantQueues() {
		// The exporter queues per tenant itself (tenants.enqueue).
		return configoptional.None[exporterhelper.QueueBatchConfig]()
	}
	q := configoptional.Default(exporterhelper.QueueBatchConfig{
		NumConsumers: 1,
		QueueSize:    int64(cfg.RemoteWriteQueue.QueueSize),
		Sizer:        exporterhelper.RequestSizerTypeRequests,
	})
	if cfg.RemoteWriteQueue.Enabled {
		q.GetOrInsertDefault()
	}
	return q
}

// tenantQueues tells whether the exporter keeps one in-memory queue per tenant: with
// include_metadata_keys and remote_write_queue (not sending_queue, whose single queue, possibly
// persistent, is exporterhelper's).
func (cfg *Config) tenantQueues() bool {
	return len(cfg.IncludeMetadataKeys) > 0 && cfg.RemoteWriteQueue.Enabled && !cfg.QueueConfig.HasValue()
}

// reservedHeaders are set by the remote-write protocol and cannot be forwarded from client metadata.
var reservedHeaders = []string{"Content-Encoding", "Content-Type", "User-Agent", "X-Prometheus-Remote-Write-Version"}

// topLevelHTTPClientKeys are the deprecated squashed confighttp keys.
var topLevelHTTPClientKeys = []string{
	"endpoint", "proxy_url", "tls", "headers", "auth", "compression", "compression_params",
	"read_buffer_size", "write_buffer_size", "max_idle_conns", "max_idle_conns_per_host",
	"max_conns_per_host", "idle_conn_timeout", "disable_keep_alives", "http2_read_idle_timeout",
	"http2_ping_timeout", "cookies", "middlewares", "force_attempt_http2",
}

// Unmarshal decodes the configuration and moves the deprecated top-level HTTP keys into http when
// no http block is given, as contrib does.
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if err := checkKnownKeys(conf, defaultConfig()); err != nil {
		return err
	}
	if err := conf.Unmarshal(cfg); err != nil {
		return err
	}
	removeTopLevel := removeTopLevelHTTPSettingsGate.IsEnabled()
	if removeTopLevel {
		for _, k := range topLevelHTTPClientKeys {
			if conf.IsSet(k) {
				return fmt.Errorf("top-level HTTP client key %q is not allowed when feature gate %s is enabled; move it under the 'http' block",
					k, removeTopLevelHTTPSettingsGate.ID())
			}
		}
		return nil
	}
	if !conf.IsSet("http") {
		cfg.HTTP = cfg.ClientConfig
		cfg.ClientConfig = confighttp.ClientConfig{}
	}
	return nil
}

// Validate checks the configuration; every error names the offending key.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.ResourceConstantLabels.Enabled || cfg.ResourceConstantLabels.ExcludeServiceAttributes { //nolint:staticcheck // rejecting the deprecated fields
		errs = append(errs, errors.New("resource_constant_labels: enabled and exclude_service_attributes are not supported; use included and excluded"))
	}
	if disableResourceToTelemetryGate.IsEnabled() {
		if !cfg.ResourceToTelemetrySettings.IsEmpty() {
			errs = append(errs, errors.New("resource_to_telemetry_conversion is disabled by the feature gate exporter.prometheusremotewrite.DisableResourceToTelemetryConversion; use resource_constant_labels"))
		}
	} else if !cfg.ResourceToTelemetrySettings.IsEmpty() && !cfg.ResourceConstantLabels.IsEmpty() {
		errs = append(errs, errors.New("resource_to_telemetry_conversion and resource_constant_labels cannot both be set; resource_to_telemetry_conversion is deprecated, keep resource_constant_labels"))
	}
	if err := cfg.ResourceToTelemetrySettings.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("resource_to_telemetry_conversion: %w", err))
	}
	if err := cfg.ResourceConstantLabels.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("resource_constant_labels: %w", err))
	}
	if cfg.MaxBatchRequestParallelism != nil && *cfg.MaxBatchRequestParallelism < 1 {
		errs = append(errs, fmt.Errorf("max_batch_request_parallelism must be at least 1, got %d", *cfg.MaxBatchRequestParallelism))
	}
	if cfg.RemoteWriteQueue.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("remote_write_queue.queue_size can't be negative, got %d", cfg.RemoteWriteQueue.QueueSize))
	}
	if cfg.RemoteWriteQueue.Enabled && cfg.RemoteWriteQueue.QueueSize == 0 && !cfg.QueueConfig.HasValue() {
		errs = append(errs, errors.New("remote_write_queue.queue_size is 0 with the queue enabled, which would drop all data; set a positive size or enabled: false"))
	}
	if cfg.RemoteWriteQueue.NumConsumers < 0 {
		errs = append(errs, fmt.Errorf("remote_write_queue.num_consumers can't be negative, got %d", cfg.RemoteWriteQueue.NumConsumers))
	}
	if cfg.MaxBatchSizeBytes < 0 {
		errs = append(errs, fmt.Errorf("max_batch_size_bytes must be greater than 0, got %d", cfg.MaxBatchSizeBytes))
	}
	if cfg.MaxBatchSizeBytes == 0 {
		cfg.MaxBatchSizeBytes = defaultMaxBatchSizeBytes
	}
	if c := cfg.HTTP.Compression; c != "" && c != "snappy" {
		errs = append(errs, fmt.Errorf("compression must be snappy (remote write mandates it), got %q", c))
	}
	switch cfg.RemoteWriteProtoMsg {
	case "", writeV1MessageType, writeV2MessageType:
	default:
		errs = append(errs, fmt.Errorf("protobuf_message must be %q (remote write 1.0) or %q (2.0), got %q",
			writeV1MessageType, writeV2MessageType, cfg.RemoteWriteProtoMsg))
	}
	switch cfg.TranslationStrategy {
	case "", underscoreEscapingWithSuffixes, underscoreEscapingWithoutSuffixes:
	case noUTF8EscapingWithSuffixes, noTranslation:
		if cfg.RemoteWriteProtoMsg != writeV2MessageType {
			errs = append(errs, fmt.Errorf("translation_strategy %s needs UTF-8 names, which only remote write 2.0 carries; set protobuf_message: %s",
				cfg.TranslationStrategy, writeV2MessageType))
		}
	default:
		errs = append(errs, fmt.Errorf("invalid translation_strategy %q; use one of %s, %s, %s, %s", cfg.TranslationStrategy,
			underscoreEscapingWithSuffixes, underscoreEscapingWithoutSuffixes, noUTF8EscapingWithSuffixes, noTranslation))
	}
	for _, key := range cfg.IncludeMetadataKeys {
		if slices.Contains(reservedHeaders, textproto.CanonicalMIMEHeaderKey(key)) {
			errs = append(errs, fmt.Errorf("include_metadata_keys entry %q collides with a header the remote-write protocol sets", key))
		}
	}
	if cfg.Shards < 0 {
		errs = append(errs, fmt.Errorf("shards can't be negative, got %d", cfg.Shards))
	}
	if r := cfg.MaxSamplesPerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		errs = append(errs, fmt.Errorf("max_samples_per_second must be a finite number >= 0 (0 means unlimited), got %g", r))
	}
	if err := validateEndpoint(cfg.HTTP.Endpoint); err != nil {
		errs = append(errs, err)
	}
	for name := range cfg.ExternalLabels {
		if name == "" {
			errs = append(errs, errors.New("external_labels: a label name is empty; every series would carry an invalid label"))
		}
	}
	if cfg.TimeoutSettings.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout can't be negative, got %s", cfg.TimeoutSettings.Timeout))
	}
	return errors.Join(errs...)
}

// validateEndpoint rejects what contrib only notices when the exporter is created, and what would
// otherwise pass start-up and fail every request: an empty, relative or non-HTTP endpoint.
func validateEndpoint(endpoint string) error {
	if endpoint == "" {
		return errors.New("endpoint must be set to the remote-write URL, e.g. http://prometheus:9090/api/v1/write")
	}
	u, err := url.ParseRequestURI(endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %q is not a valid URL: %w", endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q must be an absolute http:// or https:// URL with a host", endpoint)
	}
	return nil
}

// shardCount is the number of ordered senders.
func (cfg *Config) shardCount() int {
	switch {
	case cfg.Shards > 0:
		return cfg.Shards
	case cfg.MaxBatchRequestParallelism != nil && *cfg.MaxBatchRequestParallelism > 0:
		return *cfg.MaxBatchRequestParallelism
	case cfg.RemoteWriteQueue.NumConsumers > 0:
		return cfg.RemoteWriteQueue.NumConsumers
	}
	return defaultShards
}

const defaultShards = 5

func (cfg *Config) remoteWriteV2() bool { return cfg.RemoteWriteProtoMsg == writeV2MessageType }

// withSuffixesAndUTF8 resolves translation_strategy and the deprecated add_metric_suffixes.
func (cfg *Config) withSuffixesAndUTF8() (withSuffixes, utf8 bool) {
	switch cfg.TranslationStrategy {
	case underscoreEscapingWithSuffixes:
		return true, false
	case underscoreEscapingWithoutSuffixes:
		return false, false
	case noUTF8EscapingWithSuffixes:
		return true, true
	case noTranslation:
		return false, true
	}
	return cfg.AddMetricSuffixes, false
}
