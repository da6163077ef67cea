#!/usr/bin/env bash
# Tools the deploy/ tests use besides the API server (scripts/prereq-k8s.sh): TestCollectorListenersBind
# runs each collector config in a network namespace shaped like its pod (unshare from util-linux,
# ip from iproute2). Idempotent: installs only what is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"
apt_install_missing prereq-deploy iproute2 util-linux

# kustomize, to check that `kubectl apply -k deploy/` renders exactly the manifests the tests
# validate (deploy/kustomize_test.go). Built once from the module proxy (about 30 s); v5.8.2 is the
# newest release whose go.mod accepts Go 1.26.
KUSTOMIZE_VERSION=v5.8.2
cache=${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}
kdir=$cache/kustomize-$KUSTOMIZE_VERSION
if [ ! -x "$kdir/kustomize" ]; then
  echo "prereq-deploy: building kustomize $KUSTOMIZE_VERSION into $kdir"
  mkdir -p "$kdir"
  GOBIN=$kdir CGO_ENABLED=0 GOFLAGS=-trimpath go install -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
