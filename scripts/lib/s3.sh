# s3.sh: install, start and stop a throwaway S3-compatible server on loopback for the storage conformance tests.
#
# Sourced, not run (works under `set -euo pipefail`):
#
#   source scripts/lib/s3.sh
#   ensure_s3 || exit 1
#   trap stop_s3 EXIT            # the library sets no trap itself: it would clobber the caller's
#   RYTHMIQ_REQUIRE_S3=1 cargo test -p rythmiq-storage
#
# The server is s3s-fs (crates.io, `s3s-fs@0.14.1 --features binary`): real S3 over a directory that checks SigV4
# signatures, so wrong credentials fail as they would on AWS, and it starts in about 0.1 s. The version is pinned so
# that every machine runs the server the tests were written against (0.17 needed a newer Rust than the machines had).
# It is installed once into target/tools (ignored by git, kept across builds; `cargo clean` removes it and the next
# run reinstalls it: 1.5-4 minutes on 2 cores, depending on what else is compiling).
#
# After ensure_s3 these are exported: RYTHMIQ_TEST_S3_ENDPOINT (http://127.0.0.1:PORT), AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION. AWS_SESSION_TOKEN and AWS_PROFILE are unset, so the SDK's standard credential
# chain picks exactly the test key pair.

RYTHMIQ_S3S_FS_VERSION="0.14.1"
# Fixed test credentials: the server accepts only this pair; the tests derive a wrong pair from it.
RYTHMIQ_S3_TEST_ACCESS_KEY="rythmiq-test-access"
RYTHMIQ_S3_TEST_SECRET_KEY="rythmiq-test-secret-key-0123456789"

_s3_repo_root() {
    (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
}

_s3_log() {
    echo "s3: $*" >&2
}

# Path of the s3s-fs binary: $RYTHMIQ_S3S_FS_BIN if set, else target/tools/bin/s3s-fs in the repository.
s3s_fs_bin() {
    if [[ -n "${RYTHMIQ_S3S_FS_BIN:-}" ]]; then
        echo "$RYTHMIQ_S3S_FS_BIN"
    else
        echo "${RYTHMIQ_TOOLS_DIR:-$(_s3_repo_root)/target/tools}/bin/s3s-fs"
    fi
}

# Installs s3s-fs unless the pinned version is already there. Its build is the slow part of a fresh CI run, so the
# check is on the binary's own --version rather than on cargo's install metadata.
install_s3s_fs() {
    local bin root version
    bin="$(s3s_fs_bin)"
    # Captured first, not piped into `grep -q`: under a caller's `pipefail` an early-exiting grep could fail the
    # pipe and trigger a needless reinstall.
    version="$("$bin" --version 2>/dev/null || true)"
    if [[ -x "$bin" ]] && grep -qF "$RYTHMIQ_S3S_FS_VERSION" <<<"$version"; then
        return 0
    fi
    if [[ -n "${RYTHMIQ_S3S_FS_BIN:-}" ]]; then
        _s3_log "RYTHMIQ_S3S_FS_BIN=$RYTHMIQ_S3S_FS_BIN is not an s3s-fs $RYTHMIQ_S3S_FS_VERSION binary"
        return 1
    fi
    root="$(dirname "$(dirname "$bin")")"
    _s3_log "installing s3s-fs $RYTHMIQ_S3S_FS_VERSION into $root (a few minutes, once)"
    # --locked: the crate's own lockfile, so a new release of a dependency cannot break a fresh machine.
    if ! cargo install "s3s-fs@$RYTHMIQ_S3S_FS_VERSION" --features binary --locked --root "$root" >&2; then
        _s3_log "cargo install s3s-fs failed"
        return 1
    fi
}

# Fails unless the binary takes the flags start_s3 passes: a changed CLI should fail here, not as a hang later.
_s3_check_flags() {
    local help flag
    help="$("$1" --help 2>&1)" || { _s3_log "$1 --help failed: $help"; return 1; }
    for flag in --host --port --access-key --secret-key; do
        if ! grep -qF -- "$flag" <<<"$help"; then
            _s3_log "$1 does not take $flag; its --help says:"
            echo "$help" >&2
            return 1
        fi
    done
}

# A TCP port on 127.0.0.1 that nothing listens on right now. The server may still lose a race for it, so
# start_s3 retries with another.
_s3_free_port() {
    local port i
    for i in $(seq 1 50); do
        port=$(( 20000 + RANDOM % 40000 ))
        # A refused connection means nothing listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# Starts the server (installing it first if needed) and exports the variables listed at the top.
ensure_s3() {
    if [[ -n "${RYTHMIQ_S3_PID:-}" ]] && kill -0 "$RYTHMIQ_S3_PID" 2>/dev/null; then
        return 0  # Already running from an earlier call in this shell.
    fi
    install_s3s_fs || return 1
    local bin attempt port tmp pid i
    bin="$(s3s_fs_bin)"
    _s3_check_flags "$bin" || return 1

    for attempt in 1 2 3; do
        port="$(_s3_free_port)" || { _s3_log "no free port on 127.0.0.1"; return 1; }
        tmp="$(mktemp -d "${TMPDIR:-/tmp}/rythmiq-s3.XXXXXX")"
        mkdir -p "$tmp/data"
        "$bin" --host 127.0.0.1 --port "$port" \
            --access-key "$RYTHMIQ_S3_TEST_ACCESS_KEY" --secret-key "$RYTHMIQ_S3_TEST_SECRET_KEY" \
            "$tmp/data" >"$tmp/server.log" 2>&1 &
        pid=$!
        # Ready when it answers HTTP at all: an unsigned request gets an S3 error document, which is an answer.
        for i in $(seq 1 100); do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
                export RYTHMIQ_S3_PID="$pid" RYTHMIQ_S3_TMP="$tmp"
                export RYTHMIQ_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
                export AWS_ACCESS_KEY_ID="$RYTHMIQ_S3_TEST_ACCESS_KEY"
                export AWS_SECRET_ACCESS_KEY="$RYTHMIQ_S3_TEST_SECRET_KEY"
                export AWS_REGION="us-east-1"
                unset AWS_SESSION_TOKEN AWS_PROFILE
                _s3_log "s3s-fs $RYTHMIQ_S3S_FS_VERSION (pid $pid) at $RYTHMIQ_TEST_S3_ENDPOINT, data in $tmp/data"
                return 0
            fi
            sleep 0.1
        done
        _s3_log "s3s-fs did not answer on port $port (attempt $attempt); its log:"
        cat "$tmp/server.log" >&2 || true
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -rf "$tmp"
    done
    return 1
}

# Stops the server started by ensure_s3 and removes its data. Safe to call twice or without a server.
stop_s3() {
    # `|| true` throughout: this runs from EXIT traps of scripts with `set -e`, where a failed kill of an already
    # dead server must not skip the clean-up.
    if [[ -n "${RYTHMIQ_S3_PID:-}" ]]; then
        kill "$RYTHMIQ_S3_PID" 2>/dev/null || true
        wait "$RYTHMIQ_S3_PID" 2>/dev/null || true
    fi
    if [[ -n "${RYTHMIQ_S3_TMP:-}" && -d "$RYTHMIQ_S3_TMP" ]]; then
        rm -rf "$RYTHMIQ_S3_TMP"
    fi
    unset RYTHMIQ_S3_PID RYTHMIQ_S3_TMP RYTHMIQ_TEST_S3_ENDPOINT
    return 0
}
