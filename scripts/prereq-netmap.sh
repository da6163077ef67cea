#!/usr/bin/env bash
# The network-map end-to-end test (test/e2e/netmap_test.go): iproute2 for `ip netns` and veth pairs,
# iptables for the Service DNAT and the induced packet loss (`-m statistic --mode random -j DROP`;
# not `tc … netem`: kernels built without CONFIG_NET_SCH_NETEM, such as the CI host, lack it).
# Idempotent: installs only what is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"
APT_INSTALL_OPTS=--no-install-recommends apt_install_missing prereq-netmap iproute2 iptables
