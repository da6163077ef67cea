package k8staggingprocessor // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// AuthType says how the processor authenticates to the Kubernetes API server. The values are the
// ones contrib's k8sattributes processor accepts.
type AuthType string

const (
	// AuthTypeNone connects to KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT without credentials.
	AuthTypeNone AuthType = "none"
	// AuthTypeServiceAccount uses the pod's service account (in-cluster config).
	AuthTypeServiceAccount AuthType = "serviceAccount"
	// AuthTypeKubeConfig uses kubectl's loading rules: $KUBECONFIG or ~/.kube/config.
	AuthTypeKubeConfig AuthType = "kubeConfig"
	// AuthTypeTLS is accepted by contrib's schema but never implemented there; we reject it
	// explicitly instead of failing at start.
	AuthTypeTLS AuthType = "tls"
)

// Filter operations, spelled as in contrib's k8sattributes processor.
const (
	filterOpEquals       = "equals"
	filterOpNotEquals    = "not-equals"
	filterOpExists       = "exists"
	filterOpDoesNotExist = "does-not-exist"
)

// Association sources.
const (
	sourceResourceAttribute = "resource_attribute"
	sourceConnection        = "connection"
)

// maxAssociationSources is the number of sources a single pod_association rule may combine (as in contrib).
const maxAssociationSources = 4

// maxKubeAPIBurst bounds kube_api_burst: a larger burst is no rate limit at all.
const maxKubeAPIBurst = 1_000_000

// Config is the configuration of the k8s_tagging processor. Its keys are those of contrib's
// k8sattributes processor (v0.161.0), so a block moves over by renaming its key; hold_on_miss
// is our addition.
type Config struct {
	APIConfig `mapstructure:",squash"`

	// Passthrough only adds k8s.pod.ip (taken from the connection) and never talks to the API
	// server: an agent in front of a gateway that does the full tagging.
	Passthrough bool `mapstructure:"passthrough"`

	Extract     ExtractConfig          `mapstructure:"extract"`
	Filter      FilterConfig           `mapstructure:"filter"`
	Association []PodAssociationConfig `mapstructure:"pod_association"`
	Exclude     ExcludeConfig          `mapstructure:"exclude"`

	// WaitForMetadata makes Start block until the cache has synced (or fail after
	// WaitForMetadataTimeout), so the first data after start is tagged.
	WaitForMetadata        bool          `mapstructure:"wait_for_metadata"`
	WaitForMetadataTimeout time.Duration `mapstructure:"wait_for_metadata_timeout"`

	// WatchSyncPeriod is the informer resync period; 0 disables resync.
	WatchSyncPeriod time.Duration `mapstructure:"watch_sync_period"`

	// PodDeleteGracePeriod keeps deleted pods in the cache so late data is still tagged.
	PodDeleteGracePeriod time.Duration `mapstructure:"pod_delete_grace_period"`

	// HoldOnMiss holds data whose pod is not (yet) in the cache for a bounded time instead of
	// passing it on untagged. Off by default.
	HoldOnMiss HoldOnMissConfig `mapstructure:"hold_on_miss"`

	// NetworkMap resolves the peers of the eBPF receiver's TCP edges into both ends' workloads
	// and zones (networkmap.go). Not a k8sattributes key. Off by default.
	NetworkMap NetworkMapConfig `mapstructure:"network_map"`
}

// APIConfig holds the API server connection settings (contrib's k8sconfig.APIConfig keys).
type APIConfig struct {
	AuthType AuthType `mapstructure:"auth_type"`
	// Context overrides the kubeconfig's current context (auth_type kubeConfig only).
	Context      string  `mapstructure:"context"`
	KubeAPIQPS   float32 `mapstructure:"kube_api_qps"`
	KubeAPIBurst int     `mapstructure:"kube_api_burst"`
}

// ExtractConfig lists what is added to the data.
type ExtractConfig struct {
	// Metadata is the list of well-known attributes to add (see supportedMetadata).
	Metadata []string `mapstructure:"metadata"`
	// Annotations and Labels copy annotations/labels of the pod or its namespace, node or workload.
	Annotations []FieldExtractConfig `mapstructure:"annotations"`
	Labels      []FieldExtractConfig `mapstructure:"labels"`
	// OtelAnnotations copies pod annotations "resource.opentelemetry.io/<key>" as attribute <key>.
	OtelAnnotations bool `mapstructure:"otel_annotations"`
	// DeploymentNameFromReplicaSet is the key contrib removed in v0.160.0. Older configs still
	// carry it, so it is accepted: true (or unset) derives the deployment name from the
	// ReplicaSet name (our default anyway); false asks for the precise lookup through the
	// ReplicaSet's owner reference, which needs list/watch on replicasets.
	DeploymentNameFromReplicaSet *bool `mapstructure:"deployment_name_from_replicaset"`
}

// FieldExtractConfig copies one label or annotation (Key), or every one matching KeyRegex.
type FieldExtractConfig struct {
	// TagName is the attribute name; with KeyRegex it may reference capture groups ($1, ${name}).
	TagName  string `mapstructure:"tag_name"`
	Key      string `mapstructure:"key"`
	KeyRegex string `mapstructure:"key_regex"`
	// From is the object the label or annotation is read from; default pod.
	From string `mapstructure:"from"`
}

// FilterConfig restricts which pods are watched. All filters are applied by the API server.
type FilterConfig struct {
	Node           string              `mapstructure:"node"`
	NodeFromEnvVar string              `mapstructure:"node_from_env_var"`
	Namespace      string              `mapstructure:"namespace"`
	Fields         []FieldFilterConfig `mapstructure:"fields"`
	Labels         []FieldFilterConfig `mapstructure:"labels"`
}

// FieldFilterConfig is one field or label selector term.
type FieldFilterConfig struct {
	Key   string `mapstructure:"key"`
	Value string `mapstructure:"value"`
	Op    string `mapstructure:"op"`
}

// PodAssociationConfig is one association rule: all its sources must be present on the data and
// together identify the pod.
type PodAssociationConfig struct {
	Sources []PodAssociationSourceConfig `mapstructure:"sources"`
}

// PodAssociationSourceConfig names where one identifying value comes from.
type PodAssociationSourceConfig struct {
	// From is resource_attribute or connection.
	From string `mapstructure:"from"`
	// Name is the resource attribute (for from: resource_attribute).
	Name string `mapstructure:"name"`
}

// ExcludeConfig lists pods whose data is never tagged.
type ExcludeConfig struct {
	Pods []ExcludePodConfig `mapstructure:"pods"`
}

// ExcludePodConfig matches pods by name (a regular expression, as in contrib).
type ExcludePodConfig struct {
	Name string `mapstructure:"name"`
}

// HoldOnMissConfig bounds how long and how much data waits for a pod that is not in the cache yet.
type HoldOnMissConfig struct {
	// Timeout is how long a batch waits at most; 0 disables holding.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxBatches is how many batches may wait at once; further misses pass on untagged.
	MaxBatches int `mapstructure:"max_batches"`
}

// Validate rejects entries the processor cannot honour, naming the offending key.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch cfg.AuthType {
	case AuthTypeNone, AuthTypeServiceAccount, AuthTypeKubeConfig:
	case AuthTypeTLS:
		add("auth_type: %q is not implemented (contrib accepts the value but cannot start with it); use %q, %q or %q",
			cfg.AuthType, AuthTypeServiceAccount, AuthTypeKubeConfig, AuthTypeNone)
	default:
		add("auth_type: %q is not valid; use %q (in a pod), %q ($KUBECONFIG or ~/.kube/config) or %q",
			cfg.AuthType, AuthTypeServiceAccount, AuthTypeKubeConfig, AuthTypeNone)
	}
	// A value beyond float32's range (1e39) decodes to +Inf; .nan passes every comparison.
	if qps := float64(cfg.KubeAPIQPS); qps < 0 || math.IsInf(qps, 0) || math.IsNaN(qps) {
		add("kube_api_qps: must be a finite number >= 0 (0 keeps client-go's default), got %v", cfg.KubeAPIQPS)
	}
	// A value beyond int64 (e.g. 99999999999999999999) decodes as a float and wraps to a negative int.
	if cfg.KubeAPIBurst < 0 || cfg.KubeAPIBurst > maxKubeAPIBurst {
		add("kube_api_burst: must be between 0 (keeps client-go's default) and %d requests; the configured value "+
			"is negative or too large (read as %d)", maxKubeAPIBurst, cfg.KubeAPIBurst)
	}

	for name, d := range map[string]time.Duration{
		"wait_for_metadata_timeout": cfg.WaitForMetadataTimeout,
		"watch_sync_period":         cfg.WatchSyncPeriod,
		"pod_delete_grace_period":   cfg.PodDeleteGracePeriod,
		"hold_on_miss.timeout":      cfg.HoldOnMiss.Timeout,
	} {
		if d < 0 {
			add("%s: must be >= 0, got %v", name, d)
		}
	}
	if cfg.WaitForMetadata && cfg.WaitForMetadataTimeout == 0 {
		add("wait_for_metadata_timeout: must be > 0 when wait_for_metadata is true")
	}
	if cfg.HoldOnMiss.MaxBatches < 0 {
		add("hold_on_miss.max_batches: must be >= 0, got %d", cfg.HoldOnMiss.MaxBatches)
	}
	if cfg.HoldOnMiss.Timeout > 0 && cfg.HoldOnMiss.MaxBatches == 0 {
		add("hold_on_miss.max_batches: must be > 0 when hold_on_miss.timeout is set (it bounds the memory held)")
	}
	if cfg.HoldOnMiss.Timeout > time.Minute {
		add("hold_on_miss.timeout: %v is too long to hold data in memory; use at most 1m", cfg.HoldOnMiss.Timeout)
	}

	if assocErrs := cfg.validateAssociations(); len(assocErrs) > 0 {
		errs = append(errs, assocErrs...)
	} else if _, err := compileAssociations(cfg.Association); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, cfg.Extract.validate()...)
	errs = append(errs, cfg.Filter.validate()...)
	errs = append(errs, cfg.NetworkMap.validate()...)

	for i, p := range cfg.Exclude.Pods {
		if p.Name == "" {
			add("exclude.pods[%d].name: must not be empty", i)
			continue
		}
		if _, err := regexp.Compile(p.Name); err != nil {
			add("exclude.pods[%d].name: %q is not a valid regular expression: %w", i, p.Name, err)
		}
	}
	return errors.Join(errs...)
}

func (cfg *Config) validateAssociations() []error {
	var errs []error
	seen := map[string]int{}
	for i, rule := range cfg.Association {
		if len(rule.Sources) == 0 {
			errs = append(errs, fmt.Errorf("pod_association[%d].sources: must list at least one source", i))
			continue
		}
		if len(rule.Sources) > maxAssociationSources {
			errs = append(errs, fmt.Errorf("pod_association[%d].sources: %d sources, at most %d are allowed per rule",
				i, len(rule.Sources), maxAssociationSources))
		}
		for j, src := range rule.Sources {
			switch src.From {
			case sourceResourceAttribute:
				if src.Name == "" {
					errs = append(errs, fmt.Errorf("pod_association[%d].sources[%d].name: required with from: %s", i, j, sourceResourceAttribute))
				}
			case sourceConnection:
			default:
				errs = append(errs, fmt.Errorf("pod_association[%d].sources[%d].from: %q is not valid; use %q or %q",
					i, j, src.From, sourceResourceAttribute, sourceConnection))
			}
		}
		key := associationKey(rule)
		if first, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("pod_association[%d]: same sources as pod_association[%d] (%s)", i, first, key))
		} else {
			seen[key] = i
		}
	}
	return errs
}

// associationKey identifies a rule independent of the order of its sources.
func associationKey(rule PodAssociationConfig) string {
	parts := make([]string, 0, len(rule.Sources))
	for _, s := range rule.Sources {
		if s.From == sourceConnection {
			parts = append(parts, sourceConnection)
			continue
		}
		parts = append(parts, s.From+"/"+s.Name)
	}
	sort.Strings(parts)
	return strings.Join(parts, "+")
}

func (e *ExtractConfig) validate() []error {
	var errs []error
	for i, m := range e.Metadata {
		if !slices.Contains(supportedMetadata, m) {
			errs = append(errs, fmt.Errorf("extract.metadata[%d]: %q is not a supported metadata field; supported: %s",
				i, m, strings.Join(supportedMetadata, ", ")))
		}
	}
	check := func(kind string, rules []FieldExtractConfig) {
		for i, r := range rules {
			path := fmt.Sprintf("extract.%s[%d]", kind, i)
			switch {
			case r.Key != "" && r.KeyRegex != "":
				errs = append(errs, fmt.Errorf("%s: set either key (%q) or key_regex (%q), not both", path, r.Key, r.KeyRegex))
			case r.Key == "" && r.KeyRegex == "":
				errs = append(errs, fmt.Errorf("%s: one of key or key_regex is required", path))
			}
			if r.From != "" && !slices.Contains(validFroms, r.From) {
				errs = append(errs, fmt.Errorf("%s.from: %q is not valid; use one of %s", path, r.From, strings.Join(validFroms, ", ")))
			}
			if r.KeyRegex != "" {
				if _, err := regexp.Compile(wholeKey(r.KeyRegex)); err != nil {
					errs = append(errs, fmt.Errorf("%s.key_regex: %q is not a valid regular expression: %w", path, r.KeyRegex, err))
				}
			}
		}
	}
	check("labels", e.Labels)
	check("annotations", e.Annotations)
	return errs
}

func (f *FilterConfig) validate() []error {
	// node_from_env_var is not looked up here: `otelcol-custom validate` runs outside the pod (CI),
	// where the downward-API variable does not exist. Start reads it (nodeFromEnv).
	var errs []error
	for i, l := range f.Labels {
		if l.Key == "" {
			errs = append(errs, fmt.Errorf("filter.labels[%d].key: must not be empty", i))
		}
		switch l.Op {
		case "", filterOpEquals, filterOpNotEquals, filterOpExists, filterOpDoesNotExist:
		default:
			errs = append(errs, fmt.Errorf("filter.labels[%d].op: %q is not valid; use %s, %s, %s or %s",
				i, l.Op, filterOpEquals, filterOpNotEquals, filterOpExists, filterOpDoesNotExist))
		}
	}
	for i, fl := range f.Fields {
		if fl.Key == "" {
			errs = append(errs, fmt.Errorf("filter.fields[%d].key: must not be empty", i))
		}
		switch fl.Op {
		case "", filterOpEquals, filterOpNotEquals:
		default:
			errs = append(errs, fmt.Errorf("filter.fields[%d].op: %q is not valid for field selectors; use %s or %s",
				i, fl.Op, filterOpEquals, filterOpNotEquals))
		}
	}
	return errs
}

// staticNode returns filter.node unless node_from_env_var is set: the variable takes precedence
// (as in contrib) and is resolved when the cache starts (podcache.Settings.NodeFromEnvVar).
func (f *FilterConfig) staticNode() string {
	if f.NodeFromEnvVar != "" {
		return ""
	}
	return f.Node
}
