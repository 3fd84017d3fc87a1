#!/usr/bin/env bash
# Installs (if missing) and starts (if not running) everything fluxkv's
# tests need, on Debian as root. Idempotent: run it as often as you like.
#
#   scripts/services.sh        install and start
#   scripts/services.sh check  only report what is missing (exit 1 if any)
#
# Today the suite needs: a C toolchain (mimalloc, crc32c build C code),
# redis-server, redis-cli and redis-benchmark (peers and real clients in the
# tests; the tests start their own redis-server on free ports and never
# touch 6379). Brokers (RabbitMQ, a Kafka-protocol broker, etcd) join this
# script with the issues that need them.
set -euo pipefail

LOG_DIR="${FLUXKV_SERVICES_LOG_DIR:-/var/tmp/fluxkv-services}"
mode="${1:-up}"

need_packages=()
command -v cc >/dev/null 2>&1 || need_packages+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_packages+=(pkg-config)
command -v redis-server >/dev/null 2>&1 || need_packages+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_packages+=(redis-tools)
command -v redis-benchmark >/dev/null 2>&1 || need_packages+=(redis-tools)

if ! command -v cargo >/dev/null 2>&1; then
  echo "services: cargo is not on PATH. Install Rust 1.88 or newer (https://rustup.rs) and run this again." >&2
  exit 1
fi

if [ "$mode" = check ]; then
  if [ ${#need_packages[@]} -gt 0 ]; then
    echo "services: missing packages: ${need_packages[*]} (run scripts/services.sh to install)"
    exit 1
  fi
  echo "services: everything the tests need is installed"
  exit 0
fi

apt_install() {
  # Another apt run may hold the lock: retry rather than fail the suite.
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; then
      return 0
    fi
    echo "services: apt-get install failed (attempt $attempt); retrying in 10 s" >&2
    sleep 10
    apt-get update -q || true
  done
  echo "services: could not install $*" >&2
  return 1
}

if [ ${#need_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "services: need root to install ${need_packages[*]} (or install them yourself)" >&2
    exit 1
  fi
  echo "services: installing ${need_packages[*]}"
  apt-get update -q
  # shellcheck disable=SC2046
  apt_install $(printf '%s\n' "${need_packages[@]}" | sort -u)
fi

mkdir -p "$LOG_DIR"
echo "services: ready (redis-server $(redis-server --version | awk '{print $3}'), logs in $LOG_DIR)"
