# shellcheck shell=bash
# Sourced by scripts/test: makes locust (PyPI) available for the load-test test, in a virtualenv inside the
# repository's ignored target/ directory, and exports RYTHMIQ_LOCUST. Installs python3 and venv support from
# Debian when missing. Safe to call again: an existing install is reused.

LOCUST_VERSION=2.47.0

ensure_locust() {
  local root venv
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  venv="${CARGO_TARGET_DIR:-$root/target}/tools/locust-venv"
  if [ ! -x "$venv/bin/locust" ] || ! "$venv/bin/locust" --version 2>/dev/null | grep -q "$LOCUST_VERSION"; then
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
      local sudo=()
      [ "$(id -u)" -eq 0 ] || sudo=(sudo)
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
    fi
    echo "locust: installing $LOCUST_VERSION into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "locust==$LOCUST_VERSION"
  fi
  export RYTHMIQ_LOCUST="$venv/bin/locust"
}
