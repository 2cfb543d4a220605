#!/usr/bin/env bash
# Installs the Debian packages for the throw-away single-node Ceph (monitor,
# memstore OSD, radosgw) that the S3 integration tests start through
# tests/helpers/ceph.ts. Idempotent: does nothing when the binaries are there.
# Starts nothing.
set -euo pipefail

# The binaries tests/helpers/ceph.ts runs.
BINARIES=(ceph-authtool monmaptool ceph-mon ceph ceph-osd radosgw radosgw-admin)
# monmaptool comes from ceph-base, a dependency of ceph-mon; uuid-runtime is a
# dependency of ceph-base, named for completeness.
PACKAGES=(ceph-mon ceph-osd radosgw ceph-common uuid-runtime)

missing() {
  local bin out=()
  for bin in "${BINARIES[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || out+=("$bin")
  done
  echo "${out[*]}"
}

if [ -z "$(missing)" ]; then
  echo "install-ceph: already installed ($(ceph --version | cut -d' ' -f1-3))"
  exit 0
fi
echo "install-ceph: missing $(missing)"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

install() {
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
}

# `apt-get update` only when needed: when the package lists do not know the
# packages (a fresh machine), or when the install fails (stale lists).
if ! apt-cache show "${PACKAGES[@]}" >/dev/null 2>&1; then
  "${SUDO[@]}" apt-get update -q
  install
elif ! install; then
  echo "install-ceph: install failed; updating the package lists and retrying" >&2
  "${SUDO[@]}" apt-get update -q
  install
fi

if [ -n "$(missing)" ]; then
  echo "install-ceph: still missing after install: $(missing)" >&2
  exit 1
fi
echo "install-ceph: done ($(ceph --version | cut -d' ' -f1-3))"
