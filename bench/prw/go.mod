module github.com/otelcol-custom/otelcol-custom/bench/prw

go 1.26.0

require (
	github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter v0.161.0
	github.com/otelcol-custom/otelcol-custom v0.0.0
)

replace github.com/otelcol-custom/otelcol-custom => ../..

require cloud.google.com/go/auth v0.20.0 // indirect

require cloud.google.com/go/auth/oauth2adapt v0.2.8 // indirect

require cloud.google.com/go/compute/metadata v0.9.0 // indirect

require github.com/Azure/azure-sdk-for-go/sdk/azcore v1.22.0 // indirect

require github.com/Azure/azure-sdk-for-go/sdk/azidentity v1.14.0 // indirect

require github.com/Azure/azure-sdk-for-go/sdk/internal v1.12.0 // indirect

require github.com/AzureAD/microsoft-authentication-library-for-go v1.7.2 // indirect

require github.com/Microsoft/go-winio v0.6.2 // indirect

require github.com/alecthomas/units v0.0.0-20240927000941-0f3dac36c52b // indirect

require github.com/aws/aws-sdk-go-v2 v1.43.0 // indirect

require github.com/aws/aws-sdk-go-v2/config v1.32.31 // indirect

require github.com/aws/aws-sdk-go-v2/credentials v1.19.30 // indirect

require github.com/aws/aws-sdk-go-v2/feature/ec2/imds v1.18.31 // indirect

require github.com/aws/aws-sdk-go-v2/internal/configsources v1.4.31 // indirect

require github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.7.31 // indirect

require github.com/aws/aws-sdk-go-v2/internal/v4a v1.4.32 // indirect

require github.com/aws/aws-sdk-go-v2/service/internal/accept-encoding v1.13.13 // indirect

require github.com/aws/aws-sdk-go-v2/service/internal/presigned-url v1.13.31 // indirect

require github.com/aws/aws-sdk-go-v2/service/signin v1.5.0 // indirect

require github.com/aws/aws-sdk-go-v2/service/sso v1.33.0 // indirect

require github.com/aws/aws-sdk-go-v2/service/ssooidc v1.38.0 // indirect

require github.com/aws/aws-sdk-go-v2/service/sts v1.45.0 // indirect

require github.com/aws/smithy-go v1.27.4 // indirect

require github.com/beorn7/perks v1.0.1 // indirect

require github.com/cenkalti/backoff/v5 v5.0.3 // indirect

require github.com/cenkalti/backoff/v7 v7.0.0 // indirect

require github.com/cespare/xxhash/v2 v2.3.0 // indirect

require github.com/dennwc/varint v1.0.0 // indirect

require github.com/felixge/httpsnoop v1.1.0 // indirect

require github.com/foxboron/go-tpm-keyfiles v0.0.0-20251226215517-609e4778396f // indirect

require github.com/go-logr/logr v1.4.4 // indirect

require github.com/go-logr/stdr v1.2.2 // indirect

require github.com/go-viper/mapstructure/v2 v2.5.0 // indirect

require github.com/gobwas/glob v0.2.3 // indirect

require github.com/gogo/protobuf v1.3.2 // indirect

require github.com/golang-jwt/jwt/v5 v5.3.1 // indirect

require github.com/golang/snappy v1.0.0 // indirect

require github.com/google/go-tpm v0.9.8 // indirect

require github.com/google/s2a-go v0.1.9 // indirect

require github.com/google/uuid v1.6.0 // indirect

require github.com/googleapis/enterprise-certificate-proxy v0.3.18 // indirect

require github.com/googleapis/gax-go/v2 v2.23.0 // indirect

require github.com/grafana/regexp v0.0.0-20250905093917-f7b3be9d1853 // indirect

require github.com/hashicorp/go-version v1.9.0 // indirect

require github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect

require github.com/jpillora/backoff v1.0.0 // indirect

require github.com/json-iterator/go v1.1.12 // indirect

require github.com/klauspost/compress v1.20.0 // indirect

require github.com/knadh/koanf/maps v0.1.3 // indirect

require github.com/knadh/koanf/providers/confmap v1.0.1 // indirect

require github.com/knadh/koanf/v2 v2.3.6 // indirect

require github.com/kylelemons/godebug v1.1.0 // indirect

require github.com/mitchellh/copystructure v1.2.0 // indirect

require github.com/mitchellh/reflectwalk v1.0.2 // indirect

require github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect

require github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee // indirect

require github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect

require github.com/mwitkow/go-conntrack v0.0.0-20190716064945-2f068394615f // indirect

require github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry v0.161.0 // indirect

require github.com/pierrec/lz4/v4 v4.1.29 // indirect

require github.com/pkg/browser v0.0.0-20240102092130-5ac0b6a4141c // indirect

require github.com/prometheus/client_golang v1.24.1 // indirect

require github.com/prometheus/client_golang/exp v0.0.0-20260724065723-ecdb8254ba61 // indirect

require github.com/prometheus/client_model v0.6.3 // indirect

require github.com/prometheus/common v0.71.0 // indirect

require github.com/prometheus/otlptranslator v1.0.0 // indirect

require github.com/prometheus/procfs v0.21.1 // indirect

require github.com/prometheus/prometheus v0.314.0 // indirect

require github.com/prometheus/sigv4 v0.4.1 // indirect

require github.com/rs/cors v1.11.1 // indirect

require github.com/stretchr/testify v1.12.1 // indirect

require go.opentelemetry.io/auto/sdk v1.2.1 // indirect

require go.opentelemetry.io/collector/client v1.67.0 // indirect

require go.opentelemetry.io/collector/component v1.67.0

require go.opentelemetry.io/collector/component/componenttest v0.161.0

require go.opentelemetry.io/collector/config/configauth v1.67.0 // indirect

require go.opentelemetry.io/collector/config/configcompression v1.67.0 // indirect

require go.opentelemetry.io/collector/config/confighttp v0.161.0 // indirect

require go.opentelemetry.io/collector/config/configmiddleware v1.67.0 // indirect

require go.opentelemetry.io/collector/config/confignet v1.67.0 // indirect

require go.opentelemetry.io/collector/config/configopaque v1.67.0 // indirect

require go.opentelemetry.io/collector/config/configoptional v1.67.0 // indirect

require go.opentelemetry.io/collector/config/configretry v1.67.0 // indirect

require go.opentelemetry.io/collector/config/configtls v1.67.0 // indirect

require go.opentelemetry.io/collector/confmap v1.67.0

require go.opentelemetry.io/collector/consumer v1.67.0

require go.opentelemetry.io/collector/consumer/consumererror v0.161.0 // indirect

require go.opentelemetry.io/collector/consumer/consumertest v0.161.0

require go.opentelemetry.io/collector/consumer/xconsumer v0.161.0 // indirect

require go.opentelemetry.io/collector/exporter v1.67.0

require go.opentelemetry.io/collector/exporter/exporterhelper v0.161.0 // indirect

require go.opentelemetry.io/collector/exporter/exportertest v0.161.0

require go.opentelemetry.io/collector/exporter/xexporter v0.161.0 // indirect

require go.opentelemetry.io/collector/extension v1.67.0 // indirect

require go.opentelemetry.io/collector/extension/extensionauth v1.67.0 // indirect

require go.opentelemetry.io/collector/extension/extensionmiddleware v0.161.0 // indirect

require go.opentelemetry.io/collector/extension/xextension v0.161.0 // indirect

require go.opentelemetry.io/collector/featuregate v1.67.0 // indirect

require go.opentelemetry.io/collector/internal/componentalias v0.161.0 // indirect

require go.opentelemetry.io/collector/pdata v1.67.0

require go.opentelemetry.io/collector/pdata/pprofile v0.161.0 // indirect

require go.opentelemetry.io/collector/pdata/xpdata v0.161.0 // indirect

require go.opentelemetry.io/collector/pipeline v1.67.0 // indirect

require go.opentelemetry.io/collector/pipeline/xpipeline v0.161.0 // indirect

require go.opentelemetry.io/collector/receiver v1.67.0 // indirect

require go.opentelemetry.io/collector/receiver/receivertest v0.161.0 // indirect

require go.opentelemetry.io/collector/receiver/xreceiver v0.161.0 // indirect

require go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp v0.71.0 // indirect

require go.opentelemetry.io/otel v1.46.0 // indirect

require go.opentelemetry.io/otel/metric v1.46.0 // indirect

require go.opentelemetry.io/otel/sdk v1.46.0 // indirect

require go.opentelemetry.io/otel/sdk/metric v1.46.0 // indirect

require go.opentelemetry.io/otel/trace v1.46.0 // indirect

require go.uber.org/atomic v1.11.0 // indirect

require go.uber.org/multierr v1.11.0 // indirect

require go.uber.org/zap v1.28.0 // indirect

require go.yaml.in/yaml/v2 v2.4.4 // indirect

require go.yaml.in/yaml/v3 v3.0.5 // indirect

require golang.org/x/crypto v0.56.0 // indirect

require golang.org/x/net v0.58.0 // indirect

require golang.org/x/oauth2 v0.36.0 // indirect

require golang.org/x/sys v0.48.0 // indirect

require golang.org/x/text v0.41.0 // indirect

require golang.org/x/time v0.15.0 // indirect

require google.golang.org/api v0.290.0 // indirect

require google.golang.org/genproto/googleapis/rpc v0.0.0-20260803160001-6ac0973c030d // indirect

require google.golang.org/grpc v1.83.2 // indirect

require google.golang.org/protobuf v1.36.12 // indirect

require k8s.io/apimachinery v0.37.0 // indirect

require k8s.io/client-go v0.37.0 // indirect

require k8s.io/klog/v2 v2.140.0 // indirect

require k8s.io/utils v0.0.0-20260707023825-cf1189d6abe3 // indirect

require (
	github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheus v0.161.0 // indirect
	github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite v0.161.0 // indirect
	github.com/tidwall/gjson v1.10.2 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.0 // indirect
	github.com/tidwall/tinylru v1.1.0 // indirect
	github.com/tidwall/wal v1.2.1 // indirect
)
