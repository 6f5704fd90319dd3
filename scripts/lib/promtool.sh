# shellcheck shell=bash
# Sourced by scripts/test: makes Prometheus's `promtool` available (rule checks, rule unit tests, metric lint) and
# exports RYTHMIQ_PROMTOOL. Light on purpose: rather than `apt-get install prometheus` (96 MB, a dozen JavaScript
# packages, a system user and a service it tries to start), it downloads Debian's `prometheus` .deb with
# `apt-get download` and extracts only usr/bin/promtool into the repository's ignored target/tools. Safe to call
# again: an existing promtool (on PATH or extracted before) is reused.

ensure_promtool() {
  local root tools deb
  if command -v promtool >/dev/null 2>&1; then
    RYTHMIQ_PROMTOOL="$(command -v promtool)"
    export RYTHMIQ_PROMTOOL
    return 0
  fi
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  tools="${CARGO_TARGET_DIR:-$root/target}/tools/promtool"
  if [ ! -x "$tools/usr/bin/promtool" ]; then
    echo "promtool: extracting it from Debian's prometheus package into $tools" >&2
    mkdir -p "$tools/deb"
    if ! (cd "$tools/deb" && apt-get download -q prometheus >/dev/null 2>&1); then
      local sudo=()
      [ "$(id -u)" -eq 0 ] || sudo=(sudo)
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
      (cd "$tools/deb" && apt-get download -q prometheus >/dev/null)
    fi
    deb="$(ls "$tools"/deb/prometheus_*.deb | head -n 1)"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tools" ./usr/bin/promtool
    rm -rf "$tools/deb"
  fi
  export RYTHMIQ_PROMTOOL="$tools/usr/bin/promtool"
}
