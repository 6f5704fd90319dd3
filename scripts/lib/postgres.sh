#!/usr/bin/env bash
# scripts/lib/postgres.sh: give the test script a PostgreSQL server. Source it, then call `ensure_postgres`:
#
#   source scripts/lib/postgres.sh
#   ensure_postgres || exit 1        # exports DATABASE_URL
#   trap stop_postgres EXIT          # stops and removes the throwaway cluster, if one was started
#
# In order: an already-set DATABASE_URL; the server on 127.0.0.1:5432 if it answers and lets user `postgres` in
# (these machines run one, trust auth); else PostgreSQL from Debian (`apt-get install postgresql`, with sudo when
# not root) and a throwaway cluster of our own on a free port in a temporary folder, run as a non-root user.
# Calling it again is harmless. It never sets shell options: the caller's `set -e`/`-u` stay the caller's.

# State of a cluster this library started (empty when none).
RYTHMIQ_PG_DIR="${RYTHMIQ_PG_DIR:-}"
RYTHMIQ_PG_BIN="${RYTHMIQ_PG_BIN:-}"
RYTHMIQ_PG_OWNER="${RYTHMIQ_PG_OWNER:-}"

_rythmiq_pg_log() { echo "postgres: $*" >&2; }

# Runs a command as the cluster's owner (root may not run the server).
_rythmiq_pg_as_owner() {
    if [[ "$(id -u)" != 0 ]]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$RYTHMIQ_PG_OWNER" -- "$@"
    else
        local quoted
        quoted="$(printf '%q ' "$@")"
        su "$RYTHMIQ_PG_OWNER" -s /bin/sh -c "$quoted"
    fi
}

# Whether a server at host:port lets user postgres into database postgres.
_rythmiq_pg_usable() {
    local port="$1"
    command -v pg_isready >/dev/null 2>&1 || return 1
    pg_isready -q -h 127.0.0.1 -p "$port" -t 3 || return 1
    # pg_isready only says the server answers; check the login too when psql is around.
    if command -v psql >/dev/null 2>&1; then
        PGCONNECT_TIMEOUT=5 psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -w -c 'SELECT 1' \
            >/dev/null 2>&1 || return 1
    fi
}

# The folder holding initdb and pg_ctl: PATH first, then Debian's versioned folders (newest).
_rythmiq_pg_find_bin() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]] || return 1
    echo "$dir"
}

_rythmiq_pg_install() {
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { _rythmiq_pg_log "not root and no sudo: cannot install postgresql"; return 1; }
        sudo=(sudo -n)
    fi
    _rythmiq_pg_log "installing postgresql from Debian"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y -q postgresql >/dev/null \
        || { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q postgresql >/dev/null; } \
        || { _rythmiq_pg_log "apt-get install postgresql failed"; return 1; }
}

# A TCP port on 127.0.0.1 that nothing listens on.
_rythmiq_pg_free_port() {
    local port
    for port in $(seq 54329 54429); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

_rythmiq_pg_start_throwaway() {
    RYTHMIQ_PG_BIN="$(_rythmiq_pg_find_bin)" || { _rythmiq_pg_log "initdb/pg_ctl not found"; return 1; }
    local port
    port="$(_rythmiq_pg_free_port)" || { _rythmiq_pg_log "no free port in 54329-54429"; return 1; }
    RYTHMIQ_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/rythmiq-pg.XXXXXX")" || return 1
    if [[ "$(id -u)" == 0 ]]; then
        RYTHMIQ_PG_OWNER=postgres
        id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh postgres || return 1
        chown postgres: "$RYTHMIQ_PG_DIR"
    else
        RYTHMIQ_PG_OWNER="$(id -un)"
    fi
    _rythmiq_pg_log "starting a throwaway cluster in $RYTHMIQ_PG_DIR on port $port"
    # Trust auth on loopback only; fsync off: this cluster holds test data and dies with the run.
    _rythmiq_pg_as_owner "$RYTHMIQ_PG_BIN/initdb" -D "$RYTHMIQ_PG_DIR/data" -U postgres --auth=trust -E UTF8 \
        --no-sync >"$RYTHMIQ_PG_DIR/initdb.log" 2>&1 \
        || { _rythmiq_pg_log "initdb failed:"; cat "$RYTHMIQ_PG_DIR/initdb.log" >&2; stop_postgres; return 1; }
    _rythmiq_pg_as_owner "$RYTHMIQ_PG_BIN/pg_ctl" -D "$RYTHMIQ_PG_DIR/data" -l "$RYTHMIQ_PG_DIR/server.log" -w -t 60 \
        -o "-p $port -k $RYTHMIQ_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start \
        >/dev/null \
        || { _rythmiq_pg_log "pg_ctl start failed:"; cat "$RYTHMIQ_PG_DIR/server.log" >&2; stop_postgres; return 1; }
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    export RYTHMIQ_PG_DIR RYTHMIQ_PG_BIN RYTHMIQ_PG_OWNER
}

# Exports DATABASE_URL for a usable PostgreSQL server, starting one if need be. Returns non-zero if it cannot.
ensure_postgres() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        _rythmiq_pg_log "using DATABASE_URL from the environment"
        return 0
    fi
    if _rythmiq_pg_usable 5432; then
        export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
        _rythmiq_pg_log "using the server on 127.0.0.1:5432"
        return 0
    fi
    if ! _rythmiq_pg_find_bin >/dev/null; then
        _rythmiq_pg_install || return 1
        # The package may have started Debian's own cluster on 5432; use it if it lets us in.
        if _rythmiq_pg_usable 5432; then
            export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
            _rythmiq_pg_log "using the freshly installed server on 127.0.0.1:5432"
            return 0
        fi
    fi
    _rythmiq_pg_start_throwaway
}

# Stops and removes the cluster ensure_postgres started; does nothing when it used an existing server.
stop_postgres() {
    [[ -n "$RYTHMIQ_PG_DIR" ]] || return 0
    if [[ -f "$RYTHMIQ_PG_DIR/data/postmaster.pid" ]]; then
        _rythmiq_pg_as_owner "$RYTHMIQ_PG_BIN/pg_ctl" -D "$RYTHMIQ_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 \
            || _rythmiq_pg_log "pg_ctl stop failed (removing the folder anyway)"
    fi
    rm -rf -- "$RYTHMIQ_PG_DIR"
    RYTHMIQ_PG_DIR=""
    unset DATABASE_URL
}
