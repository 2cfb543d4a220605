#!/usr/bin/env bash
# Provisions what `npm test` needs on this machine, before any test runs:
# the second readers the tests open every archive with (unzip, tar, bzip2,
# bsdtar, 7z, python3), the tools that fake faults or drop privileges
# (setpriv, script, /usr/bin/time), lbzip2, OpenSSH (a throw-away sshd for
# the SFTP tests) and rclone, and the Debian packages of the throw-away Ceph
# radosgw the S3 tests start (tests/helpers/ceph.ts), and Chromium for the
# web UI's browser test.
#
# Idempotent and quiet when everything is there. When something is missing
# it says what it installs and runs apt-get (as root, or through sudo);
# when it cannot, it stops with one line naming the command to run.
# S3_TEST_ENDPOINT set (an S3 server of your own): Ceph is not needed.
set -euo pipefail

# command -> Debian package
declare -A TOOLS=(
  [unzip]=unzip [zip]=zip [bzip2]=bzip2 [lbzip2]=lbzip2 [tar]=tar [gzip]=gzip
  [bsdtar]=libarchive-tools [7z]=p7zip-full [python3]=python3
  [setpriv]=util-linux [script]=bsdutils [mount]=mount
  # automation: a self-signed certificate for the SMTP test server, `backup status` at a
  # shifted clock, generated units checked offline, a real per-user crontab
  [openssl]=openssl [faketime]=faketime [systemd-analyze]=systemd [crontab]=cron
  # destinations: a throw-away OpenSSH server for the SFTP tests (sshd itself is
  # checked by path below: /usr/sbin is not on every PATH), its keys and
  # known_hosts line, and rclone for the rclone destination
  [ssh-keygen]=openssh-client [ssh-keyscan]=openssh-client [rclone]=rclone
  # web UI: the browser test drives Debian's headless Chromium with playwright-core
  [chromium]=chromium
)
if [ -z "${S3_TEST_ENDPOINT:-}" ]; then
  TOOLS+=(
    [ceph-authtool]=ceph-common [monmaptool]=ceph-base [ceph-mon]=ceph-mon [ceph]=ceph-common
    [ceph-osd]=ceph-osd [radosgw]=radosgw [radosgw-admin]=ceph-common [uuidgen]=uuid-runtime
  )
fi

missing_packages() {
  local cmd out=()
  for cmd in "${!TOOLS[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || out+=("${TOOLS[$cmd]}")
  done
  # /usr/bin/time (not the shell keyword): the large suite's peak-RSS probe.
  [ -x /usr/bin/time ] || out+=(time)
  # /usr/sbin/sshd: the SFTP tests' server (tests/helpers/sshd.ts), not on a non-root PATH.
  [ -x /usr/sbin/sshd ] || out+=(openssh-server)
  if [ "${#out[@]}" -gt 0 ]; then printf '%s\n' "${out[@]}" | sort -u | tr '\n' ' '; fi
}

missing=$(missing_packages)
if [ -z "$missing" ]; then
  exit 0
fi

echo "provision: the tests need Debian packages that are not installed: ${missing}" >&2
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "provision: cannot install them without root: run  sudo apt-get install -y --no-install-recommends ${missing}  then npm test again" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "provision: no apt-get on this machine: install ${missing}(or their equivalents) by hand, then npm test again" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "provision: installing ${missing}(apt-get, a few minutes the first time)" >&2
# shellcheck disable=SC2086
install() { "${SUDO[@]}" apt-get install -y -q --no-install-recommends $missing >&2; }
# Update the package lists only when they do not know the packages (a fresh
# machine) or the install fails (stale lists).
# shellcheck disable=SC2086
if ! apt-cache show $missing >/dev/null 2>&1; then
  "${SUDO[@]}" apt-get update -q >&2
  install
elif ! install; then
  echo "provision: install failed; updating the package lists and retrying" >&2
  "${SUDO[@]}" apt-get update -q >&2
  install
fi

still=$(missing_packages)
if [ -n "$still" ]; then
  echo "provision: still missing after apt-get install: ${still}" >&2
  exit 1
fi
echo "provision: done" >&2
