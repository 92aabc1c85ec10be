#!/usr/bin/env bash
# Installs every Debian 12 package pgvault needs to build, test and benchmark. Idempotent.
# Runs apt-get only when something is missing, so a prepared machine pays nothing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config clang-format clang-tidy
  libpq-dev libssl-dev libzstd-dev liblz4-dev zlib1g-dev libcurl4-openssl-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libfmt-dev libgtest-dev libgmock-dev
  libcpp-httplib-dev libbrotli-dev
  # The libFuzzer targets (scripts/fuzz.sh): clang 14 and its fuzzer/sanitizer runtimes
  clang libclang-rt-14-dev
  postgresql-15 postgresql-client-15 pgbackrest zstd curl util-linux procps
  # The daemon's status page opened in headless Chromium (DaemonStatusPageTest); the headless
  # shell is the smaller package and needs no display; DejaVu gives the page's text a font.
  chromium-headless-shell fonts-dejavu-core
  # S3 integration tests: a one-node Ceph RADOS Gateway (see scripts/s3/start-rgw.sh)
  ceph-mon ceph-osd radosgw ceph-common
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if ((EUID != 0)); then
    echo "pgvault: missing Debian packages: ${missing[*]}" >&2
    echo "HINT: run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q -o DPkg::Lock::Timeout=600 >/dev/null
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi
