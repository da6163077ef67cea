#!/usr/bin/env bash
# Backends for the Prometheus remote-write exporter tests and benchmark:
#   - Prometheus 2.x and VictoriaMetrics from Debian (/usr/bin/prometheus, /usr/bin/victoria-metrics)
#   - Prometheus 3 (remote write 2.0 receiver), built once from the module proxy into
#     ${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}/prometheus-v0.316.0/prometheus
#     (-tags remove_all_sd: a service-discovery dependency is missing from the proxy; ~3+ minutes).
# Idempotent: quick no-op when everything is present.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"
apt_install_missing prereq-prw prometheus victoria-metrics
# The Debian packages start system services; the tests run their own instances on random ports.
for svc in prometheus victoria-metrics; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done

version=v0.316.0
dir=${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}/prometheus-$version
if [ ! -x "$dir/prometheus" ]; then
  echo "prereq-prw: building Prometheus $version (3.x) into $dir (several minutes on a cold cache)"
  mkdir -p "$dir"
  tmp=$(mktemp -d "$dir/.build.XXXXXX")
  # Build outside any module so the distribution's go.mod does not interfere.
  (cd "$tmp" && GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -tags remove_all_sd "github.com/prometheus/prometheus/cmd/prometheus@$version")
  mv "$tmp/prometheus" "$dir/prometheus"
  rm -rf "$tmp"
fi
"$dir/prometheus" --version >/dev/null
