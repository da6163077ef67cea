# Sourced by scripts/prereq-*.sh.
# apt_install_missing TAG PKG...: installs the Debian packages that are not installed yet (running
# `apt-get update` only when an install fails, e.g. on a fresh machine with empty package lists).
# APT_INSTALL_OPTS (optional) adds apt-get install options, e.g. --no-install-recommends.
apt_install_missing() {
  local tag=$1 p missing=()
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "$tag: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${APT_INSTALL_OPTS:-} "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${APT_INSTALL_OPTS:-} "${missing[@]}"; }
}
