#!/usr/bin/env bash
# Downloads the kernels of the matrix (Debian cloud images) through a private apt configuration and
# caches, per kernel, under ${OTELCOL_CUSTOM_CACHE:-~/.cache/otelcol-custom}/kernels/<release>/:
#   vmlinuz       the bzImage the VM boots
#   config        the kernel's build configuration
#   vmlinux.btf   the kernel's BTF (raw .BTF section; `bpftool btf dump file vmlinux.btf format c`)
#   package       the Debian package name and version it came from
# The kernels are never installed, and the machine's apt sources are never changed: the private
# configuration adds bullseye, bookworm and bookworm-backports on the mirror the machine already uses,
# with its own lists and archive directories.
#
# Usage: test/kernels/fetch.sh [SERIES...]    (SERIES: 5.10 6.1 6.12; default all)
#   Prints one line per kernel: SERIES RELEASE DIR.
#   KERNEL_6_1=6.1.0-47 (or KERNEL_5_10=…, KERNEL_6_12=…) picks an ABI instead of the newest
#   point release, e.g. to exercise another 6.1 (see README.md in this directory).
# Idempotent: a cached kernel is not downloaded again; package lists are refreshed once a day.
set -euo pipefail
cache=${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}/kernels
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs"

# The mirror the machine uses for Debian (deb822 or one-line sources), deb.debian.org otherwise.
mirror=$( (cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true) |
  grep -oE '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+/debian/?([[:space:]]|$)' |
  grep -oE '[a-z]+://[^[:space:]]+' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$apt_dir/sources.list.new" <<SOURCES
deb [signed-by=$keyring] $mirror bullseye main
deb [signed-by=$keyring] $mirror bookworm main
deb [signed-by=$keyring] $mirror bookworm-backports main
SOURCES
mv "$apt_dir/sources.list.new" "$apt_dir/sources.list"

apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o "Dir::Cache::archives=$apt_dir/archives"
  -o "APT::Sandbox::User=root")

# apt keeps the mirror's modification times on the lists it downloads: a stamp file of our own says
# when they were last refreshed.
refresh_lists() {
  if [ -z "$(find "$apt_dir/updated" -mmin -1440 2>/dev/null)" ]; then
    echo "kernels: updating the private package lists ($mirror bullseye bookworm bookworm-backports)" >&2
    apt-get "${apt_opts[@]}" -qq update >&2
    touch "$apt_dir/updated"
  fi
}

# pattern_for SERIES: the egrep of the package names of that series; the newest by version sort wins.
pattern_for() {
  case $1 in
  5.10) echo '^linux-image-5\.10\.0-[0-9]+-cloud-amd64$' ;;
  6.1) echo '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' ;;
  6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12(\.[0-9]+)?-cloud-amd64$' ;;
  *) echo "kernels: unknown series '$1' (known: 5.10 6.1 6.12)" >&2; return 1 ;;
  esac
}

# extract_vmlinux BZIMAGE OUT: the kernel ELF inside a bzImage (the payload after the first
# compression magic that decompresses to an ELF file), like the kernel tree's scripts/extract-vmlinux.
extract_vmlinux() {
  local img=$1 out=$2 magic tool off
  for magic in '\x02\x21\x4c\x18:lz4 -dcq' '\x28\xb5\x2f\xfd:zstd -dcq' '\xfd\x37\x7a\x58\x5a\x00:xz -dcq' '\x1f\x8b\x08:gzip -dcq'; do
    tool=${magic#*:}
    for off in $(LC_ALL=C grep -aboP "${magic%%:*}" "$img" | cut -d: -f1 | head -n5); do
      tail -c +$((off + 1)) "$img" | $tool >"$out" 2>/dev/null || true
      if [ "$(head -c4 "$out" | od -An -c | tr -d ' ')" = '177ELF' ]; then return 0; fi
    done
  done
  echo "kernels: no ELF kernel found inside $img" >&2
  return 1
}

series=("$@")
[ ${#series[@]} -gt 0 ] || series=(5.10 6.1 6.12)
for s in "${series[@]}"; do
  pat=$(pattern_for "$s")
  override_var=KERNEL_${s//./_}
  override=${!override_var:-}
  if [ -n "$override" ]; then
    pkg=linux-image-${override#linux-image-}
    pkg=${pkg%-cloud-amd64}-cloud-amd64
  else
    # The newest point release is what the (daily refreshed) package lists say it is.
    refresh_lists
    pkg=$(apt-cache "${apt_opts[@]}" pkgnames linux-image- | grep -E "$pat" | sort -V | tail -n1)
    [ -n "$pkg" ] || { echo "kernels: no package matching $pat on $mirror" >&2; exit 1; }
  fi
  release=${pkg#linux-image-}
  dir=$cache/$release
  if [ ! -s "$dir/vmlinuz" ] || [ ! -s "$dir/vmlinux.btf" ]; then
    refresh_lists
    echo "kernels: downloading $pkg" >&2
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/root"
    (cd "$apt_dir/debs" && rm -f "${pkg}"_*.deb && apt-get "${apt_opts[@]}" -qq download "$pkg" >&2)
    deb=$(ls "$apt_dir/debs/${pkg}"_*.deb)
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp/root" ./boot
    mv "$dir.tmp/root/boot/vmlinuz-$release" "$dir.tmp/vmlinuz"
    mv "$dir.tmp/root/boot/config-$release" "$dir.tmp/config"
    dpkg-deb -f "$deb" Package Version >"$dir.tmp/package"
    extract_vmlinux "$dir.tmp/vmlinuz" "$dir.tmp/vmlinux"
    objcopy -O binary --only-section=.BTF "$dir.tmp/vmlinux" "$dir.tmp/vmlinux.btf"
    rm -rf "$dir.tmp/root" "$dir.tmp/vmlinux" "$deb"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$s $release $dir"
done
