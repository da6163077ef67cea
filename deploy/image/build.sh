#!/usr/bin/env bash
# Builds the otelcol-custom container image (FROM scratch: static binary + default config + CA
# bundle) with podman on vfs storage, smoke-tests it, and saves it as an OCI archive.
#
#   deploy/image/build.sh [--no-smoke]
#
# Inputs:  $OTELCOL_CUSTOM_BINARY (default _build/otelcol-custom, from `make build`)
#          $IMAGE_TAG (default otelcol-custom:0.161.0-custom)
# Output:  image $IMAGE_TAG in podman storage under ${OTELCOL_CUSTOM_CACHE:-~/.cache/otelcol-custom}/containers
#          and _build/otelcol-custom-image.tar (OCI archive: `kind load image-archive`, `ctr -n k8s.io images import`)
# Needs:   root, podman (scripts/prereq-image.sh), curl and nsenter for the smoke test.
#
# Smoke test (no network needed, nothing published on the host): run the image with
# --network none, enter its network namespace to check the health endpoint and to send one OTLP/HTTP
# log record, which the debug exporter must count; memory_limiter must size itself from the
# container's memory limit; then stop it and expect a clean shutdown.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${OTELCOL_CUSTOM_BINARY:-$root/_build/otelcol-custom}
tag=${IMAGE_TAG:-otelcol-custom:0.161.0-custom}
cache=${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}
archive=$root/_build/otelcol-custom-image.tar
smoke=1
[ "${1:-}" = "--no-smoke" ] && smoke=0

die() { echo "image: $*" >&2; exit 1; }
command -v podman >/dev/null || die "podman not found: run \`make prereqs\` (scripts/prereq-image.sh)"
[ -x "$binary" ] || die "collector binary $binary missing: run \`make build\` (or set OTELCOL_CUSTOM_BINARY)"
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || die "$ca missing: apt-get install ca-certificates"

# A private store so the build never touches other images on the machine; vfs works on any
# filesystem and inside containers (no overlay mounts). runc rather than crun: crun refuses hosts
# with hybrid cgroups (v1 controllers next to a v2 mount), which sandboxed machines often have.
runtime=()
command -v runc >/dev/null && runtime=(--runtime "$(command -v runc)")
podman() {
  command podman "${runtime[@]}" --storage-driver=vfs --root "$cache/containers/storage" \
    --runroot "${XDG_RUNTIME_DIR:-/run}/otelcol-custom-containers" --cgroup-manager=cgroupfs --events-backend=file "$@"
}

ctx=$(mktemp -d)
container=otelcol-smoke-$$
cleanup() {
  podman rm -f -t 5 "$container" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT

cp "$here/Containerfile" "$here/config.yaml" "$ctx/"
cp "$ca" "$ctx/ca-certificates.crt"
cp "$binary" "$ctx/otelcol-custom"

start=$(date +%s)
podman build --quiet --pull=never --network=none --layers=false -f "$ctx/Containerfile" -t "$tag" "$ctx" >/dev/null
echo "image: built $tag in $(( $(date +%s) - start ))s"
# The previous build under the same tag is now dangling; vfs keeps full copies, so drop it.
podman image prune -f >/dev/null

# Exactly three files, nothing else (no shell, no libc).
files=$(podman create --name "$container-files" "$tag" >/dev/null && podman export "$container-files" | tar -t | grep -v '/$' | sort)
podman rm -f "$container-files" >/dev/null
want=$(printf '%s\n' etc/otelcol/config.yaml etc/ssl/certs/ca-certificates.crt otelcol-custom | sort)
[ "$files" = "$want" ] || die "image contents differ from the three expected files:"$'\n'"$files"
user=$(podman image inspect -f '{{.Config.User}}' "$tag")
[ "$user" = "10001:10001" ] || die "image user is '$user', want 10001:10001"
size=$(podman image inspect -f '{{.Size}}' "$tag")
echo "image: contents ok (3 files), user $user, size $(( size / 1024 / 1024 )) MiB"

if [ "$smoke" = 1 ]; then
  # Limits no higher than ours: podman's defaults (nofile 1048576) need CAP_SYS_RESOURCE, which
  # sandboxed machines drop.
  limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=4096:4096")
  version=$(podman run --rm --network=none "${limits[@]}" "$tag" --version)
  echo "image: $version"
  case "$version" in *"version 0.161.0-custom"*) ;; *) die "unexpected --version output: $version" ;; esac

  podman run -d --name "$container" --network=none "${limits[@]}" --memory=256m --read-only --cap-drop=ALL --security-opt=no-new-privileges "$tag" >/dev/null
  pid=$(podman inspect -f '{{.State.Pid}}' "$container")
  in_netns() { nsenter -t "$pid" -n "$@"; }
  ready=0
  for _ in $(seq 1 120); do
    if in_netns curl -fsS -o /dev/null http://127.0.0.1:13133/ 2>/dev/null; then ready=1; break; fi
    [ "$(podman inspect -f '{{.State.Running}}' "$container")" = true ] || break
    sleep 0.5
  done
  [ "$ready" = 1 ] || { podman logs "$container" >&2; die "health check never answered"; }
  # Exactly one record; the default config's debug exporter (verbosity basic) logs the count.
  marker="image-smoke-$$-$RANDOM"
  in_netns curl -fsS -o /dev/null -H 'Content-Type: application/json' \
    --data '{"resourceLogs":[{"resource":{},"scopeLogs":[{"logRecords":[{"body":{"stringValue":"'"$marker"'"}}]}]}]}' \
    http://127.0.0.1:4318/v1/logs || { podman logs "$container" >&2; die "OTLP/HTTP export refused"; }
  seen=0
  for _ in $(seq 1 40); do
    # read the logs whole first: `grep -q` exits at the first match and, with pipefail, the
    # writer's SIGPIPE would fail the pipeline
    logs=$(podman logs "$container" 2>&1)
    if grep -q '"otelcol.signal": "logs", "resource logs": 1, "log records": 1' <<<"$logs"; then seen=1; break; fi
    sleep 0.25
  done
  [ "$seen" = 1 ] || { podman logs "$container" >&2; die "the log record never reached the debug exporter"; }
  # memory_limiter must size itself from the container limit (cgroup), not the host's memory.
  logs=$(podman logs "$container" 2>&1)
  grep -q '"total_memory_mib": 256, "limit_percentage": 80' <<<"$logs" ||
    { podman logs "$container" >&2; die "memory_limiter did not take the 256 MiB container limit"; }
  podman stop -t 20 "$container" >/dev/null
  code=$(podman inspect -f '{{.State.ExitCode}}' "$container")
  [ "$code" = 0 ] || { podman logs "$container" >&2; die "collector exited with $code on SIGTERM"; }
  echo "image: smoke test ok (health check, OTLP/HTTP log through the pipeline, memory_limiter from the 256 MiB limit, clean shutdown)"
fi

mkdir -p "$(dirname "$archive")"
rm -f "$archive"
podman save --quiet --format=oci-archive -o "$archive" "$tag"
echo "image: saved $archive ($(( $(stat -c %s "$archive") / 1024 / 1024 )) MiB)"
