#!/usr/bin/env bash
# Builds the peer collectors the benchmarks compare otelcol-custom against, with ocb at the same
# pinned release, into _build/:
#   otelcol-upstream       builder-config.yaml minus our components (contrib's remote-write exporter
#                          in place of ours)
#   otelcol-k8sattributes  otlp → contrib k8sattributes → otlp/nop, the newest k8sattributesprocessor
#                          version the module proxy serves that builds (tried newest first)
# Each peer is rebuilt only when its manifest changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$root/bench/.work/peers
out=$root/_build
builder=$root/.tools/bin/builder
mkdir -p "$work" "$out"
[ -x "$builder" ] || make -C "$root" tools >/dev/null
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

# build_peer NAME MANIFEST: ocb without compilation (a test-only dependency missing from the proxy
# must not stop us), then tidy -e and a static build.
build_peer() {
  local name=$1 manifest=$2 dir=$work/$1
  if [ -x "$out/$name" ] && [ -f "$dir/manifest.yaml" ] && cmp -s "$manifest" "$dir/manifest.yaml"; then
    echo "peers: $name is up to date ($out/$name)"; return 0
  fi
  echo "peers: building $name (several minutes on a cold cache)"
  mkdir -p "$dir"
  cp "$manifest" "$dir/manifest.yaml.new"
  # ocb writes go.mod only when it gets the modules itself; when that fails (a dependency missing
  # from the proxy), generate the sources alone and make the module here, tolerating what tidy cannot
  # find. Without a go.mod of its own, go would walk up to the project's module.
  if ! "$builder" --config "$dir/manifest.yaml.new" --skip-compilation >"$dir/ocb.log" 2>&1; then
    rm -rf "$dir/src"
    "$builder" --config "$dir/manifest.yaml.new" --skip-compilation --skip-get-modules >>"$dir/ocb.log" 2>&1 || {
      echo "peers: ocb failed for $name, see $dir/ocb.log"; tail -5 "$dir/ocb.log"; return 1; }
    # go.mod from the manifest: its module and every "gomod: path version" pinned as a requirement,
    # so tidy resolves the rest from the pinned modules' own requirements rather than newest.
    awk '$1 == "module:" && !mod {print "module " $2 "\n\ngo 1.25\n"; mod=1}
         $2 == "gomod:" && NF >= 4 {print "require " $3 " " $4}' "$dir/manifest.yaml.new" > "$dir/src/go.mod"
    (cd "$dir/src" && go mod tidy -e >/dev/null 2>&1) || {
      echo "peers: go mod tidy failed for $name in $dir/src"; return 1; }
  fi
  (cd "$dir/src" && go build -trimpath -ldflags "-s -w" -o "$out/$name" .) || return 1
  mv "$dir/manifest.yaml.new" "$dir/manifest.yaml"
  echo "peers: built $out/$name"
}

# otelcol-upstream: our manifest without our own modules, with contrib's remote-write exporter.
upstream=$work/otelcol-upstream.yaml
{
  # drop our entries: the "- gomod: <our module>" line with its indented import/name lines, the
  # replace to our root module, and the comments that introduce them
  awk '/^  - gomod: github.com\/otelcol-custom\//{skip=1; next}
       skip && /^    /{next}
       {skip=0}
       /^  # ours/ || /^  # our components/ || /github.com\/otelcol-custom\/otelcol-custom =>/{next}
       {print}' "$root/builder-config.yaml" |
  sed -e 's#^  name: otelcol-custom$#  name: otelcol-upstream#' \
      -e 's#^  module: .*#  module: example.com/otelcol-upstream#' \
      -e 's#^  description: .*#  description: upstream-only peer of otelcol-custom (benchmarks)#' \
      -e "s#^  output_path: .*#  output_path: $work/otelcol-upstream/src#"
} > "$upstream.tmp"
if ! grep -q 'exporter/prometheusremotewriteexporter v' "$upstream.tmp"; then
  sed -i '/^exporters:/a\  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter v0.161.0' "$upstream.tmp"
fi
mv "$upstream.tmp" "$upstream"
build_peer otelcol-upstream "$upstream"

# otelcol-k8sattributes: newest served k8sattributesprocessor that builds at our pin.
k8s_peer() {
  local v=$1 m=$work/otelcol-k8sattributes.yaml
  cat > "$m" <<YAML
dist:
  module: example.com/otelcol-k8sattributes
  name: otelcol-k8sattributes
  description: peer with contrib k8sattributesprocessor $v (benchmarks)
  version: 0.161.0-peer
  output_path: $work/otelcol-k8sattributes/src
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v0.161.0
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor v0.161.0
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/processor/k8sattributesprocessor $v
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/nopexporter v0.161.0
  - gomod: go.opentelemetry.io/collector/exporter/otlpexporter v0.161.0
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v0.161.0
extensions:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension v0.161.0
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider v1.67.0
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider v1.67.0
  - gomod: go.opentelemetry.io/collector/confmap/provider/yamlprovider v1.67.0
YAML
  build_peer otelcol-k8sattributes "$m"
}
# The module proxy here is a partial mirror: list what it serves, try the newest, then v1.0.0 (the
# release that matches our v0.161.0 pin).
proxy=$(go env GOPROXY | cut -d, -f1)
newest=$(curl -fsS "$proxy/github.com/open-telemetry/opentelemetry-collector-contrib/processor/k8sattributesprocessor/@v/list" 2>/dev/null | grep '^v1\.' | sort -V | tail -1 || true)
versions=$(printf '%s\n' $newest v1.0.0 | awk '!seen[$0]++')
for v in $versions; do
  if k8s_peer "$v"; then echo "$v" > "$out/otelcol-k8sattributes.version"; echo "peers: otelcol-k8sattributes uses k8sattributesprocessor $v"; break; fi
  echo "peers: k8sattributesprocessor $v does not build at our pin here, trying the next"
done
[ -x "$out/otelcol-k8sattributes" ] || { echo "peers: no k8sattributesprocessor version built (tried: $versions); see $work/otelcol-k8sattributes/ocb.log"; exit 1; }
