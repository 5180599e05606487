#!/usr/bin/env bash
# Browser and GStreamer tests of media-core: real WebRTC clients (Debian's Chromium driven by
# playwright-core, GStreamer's webrtcbin from Python) publish and watch through the loopback
# demo (media-core/examples/loopback_demo.rs) over DTLS-SRTP.
#
# Installs what is missing, idempotently (one apt-get update, only when something must be
# installed; `npm ci` only when the lock file changed), builds the demo once, and runs each test
# against a fresh demo on a free loopback port, with a time limit, always stopping the demo.
# Prints one line per test, the DTLS version and SRTP profile the demo negotiated with each
# client, and a final `N passed, N failed` line; exits non-zero when any test failed.
#
# The `daemon` scenario (tests/browser/daemon.mjs) runs the real `sightline` daemon instead,
# with a fresh data directory and tenant, and drives its web client (/agent/ and /join).
# Meant for a fresh Debian 12 as root (or a machine that already has the packages).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tests="$repo/tests/browser"
work="$(mktemp -d)"
demo_pid=""
daemon_pid=""
passed=0
failed=0
skipped=0

log() { printf 'browser-tests: %s\n' "$*"; }

# GStreamer with webrtcbin, libnice, VP8/Opus and the Python bindings; openssl makes the
# ECDSA certificate that gst_webrtcbin.py gives webrtcbin.
GST_PACKAGES=(
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    gstreamer1.0-nice python3-gi gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0
    openssl
)

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

missing_packages() {
    [[ -x /usr/bin/chromium ]] || echo chromium
    if ! command -v node >/dev/null 2>&1; then
        echo nodejs npm
    fi
    local package
    for package in "${GST_PACKAGES[@]}"; do
        is_installed "$package" || echo "$package"
    done
}

install_packages() {
    local packages
    mapfile -t packages < <(missing_packages | tr ' ' '\n')
    if ((${#packages[@]} == 0)); then
        log "Debian packages present"
        return
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        log "missing packages: ${packages[*]}; run this script as root to install them" >&2
        exit 1
    fi
    log "installing ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
}

install_node_modules() {
    local stamp="$tests/node_modules/.package-lock.sha256" want
    want="$(sha256sum "$tests/package-lock.json" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        log "node modules up to date"
        return
    fi
    log "npm ci in tests/browser"
    (cd "$tests" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

build_demo() {
    log "building the loopback demo"
    (cd "$repo" && cargo build --quiet --locked -p media-core --example loopback_demo)
    demo_bin="$(target_dir)/debug/examples/loopback_demo"
    [[ -x "$demo_bin" ]] || { log "no demo binary at $demo_bin" >&2; exit 1; }
}

# Cargo's target directory (CARGO_TARGET_DIR when set).
target_dir() {
    (cd "$repo" && cargo metadata --format-version 1 --no-deps | node -e '
        let json = "";
        process.stdin.on("data", (d) => (json += d));
        process.stdin.on("end", () => console.log(JSON.parse(json).target_directory));')
}

build_daemon() {
    log "building the sightline daemon"
    (cd "$repo" && cargo build --quiet --locked -p sightline-control --bin sightline)
    daemon_bin="$(target_dir)/debug/sightline"
    [[ -x "$daemon_bin" ]] || { log "no daemon binary at $daemon_bin" >&2; exit 1; }
}

free_port() {
    node -e '
        const server = require("net").createServer();
        server.listen(0, "127.0.0.1", () => {
            console.log(server.address().port);
            server.close();
        });'
}

# Starts a fresh demo (its own engine and session) and waits until its page answers.
start_demo() {
    local port
    port="$(free_port)"
    demo_url="http://127.0.0.1:$port/"
    demo_log="$work/demo-$1.log"
    DEMO_LISTEN="127.0.0.1:$port" NO_COLOR=1 RUST_LOG="info,media_core=debug,dtls=debug" \
        "$demo_bin" >"$demo_log" 2>&1 &
    demo_pid=$!
    local _
    for _ in $(seq 100); do
        if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' \
            "$demo_url" 2>/dev/null; then
            return 0
        fi
        kill -0 "$demo_pid" 2>/dev/null || break
        sleep 0.1
    done
    log "demo did not start; its log:" >&2
    cat "$demo_log" >&2
    return 1
}

stop_demo() {
    if [[ -n "$demo_pid" ]]; then
        kill "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
        demo_pid=""
    fi
}

# Starts a fresh daemon (new data directory, one tenant whose administrator signs in as the
# agent) on a free loopback port and waits until /healthz answers.
start_daemon() {
    local port data="$work/daemon-data"
    port="$(free_port)"
    daemon_url="https://127.0.0.1:$port"
    daemon_log="$work/daemon.log"
    daemon_email="agent@example.com"
    daemon_password="Harbour-Lantern-$RANDOM-$RANDOM"
    rm -rf "$data"
    if ! SIGHTLINE_PASSWORD="$daemon_password" "$daemon_bin" tenant create --data-dir "$data" \
        --name browser-tests --admin-email "$daemon_email" >"$daemon_log" 2>&1; then
        log "cannot create the tenant:" >&2
        cat "$daemon_log" >&2
        return 1
    fi
    NO_COLOR=1 RUST_LOG=info "$daemon_bin" serve --data-dir "$data" --listen "127.0.0.1:$port" \
        --metrics-listen off --media-workers 1 --media-pin-workers false >>"$daemon_log" 2>&1 &
    daemon_pid=$!
    local _
    for _ in $(seq 150); do
        if NODE_TLS_REJECT_UNAUTHORIZED=0 node -e \
            'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' \
            "$daemon_url/healthz" 2>/dev/null; then
            return 0
        fi
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    log "daemon did not start; its log:" >&2
    cat "$daemon_log" >&2
    return 1
}

stop_daemon() {
    if [[ -n "$daemon_pid" ]]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
        daemon_pid=""
    fi
}

cleanup() {
    stop_demo
    stop_daemon
    rm -rf "$work"
}
trap cleanup EXIT

# What the demo's DTLS server negotiated with each client of the last test.
report_dtls() {
    sed 's/\x1b\[[0-9;]*m//g' "$demo_log" | grep -E 'DTLS-SRTP connected|DTLS transport failed' \
        | sed -E 's/.*(DTLS-SRTP connected|DTLS transport failed)/\1/; s/^/  demo: /' || true
}

# Runs one client program against a fresh demo: NAME SECONDS COMMAND...; its output goes to
# OUT so the caller can read per-test results from it.
run_client() {
    local name="$1" seconds="$2"
    shift 2
    client_out="$work/$name.out"
    if ! start_demo "$name"; then
        stop_demo
        return 1
    fi
    local status=0
    DEMO_URL="$demo_url" timeout --kill-after=5 "$seconds" "$@" >"$client_out" 2>&1 || status=$?
    stop_demo
    sed 's/^/  | /' "$client_out"
    report_dtls
    ((status == 124)) && log "$name: timed out after ${seconds}s"
    return "$status"
}

record() {
    local result="$1" name="$2" detail="${3:-}"
    case "$result" in
        PASS) passed=$((passed + 1)) ;;
        SKIP) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)) ;;
    esac
    printf '%s %s%s\n' "$result" "$name" "${detail:+ ($detail)}"
}

# Chromium tests of one scenario of chromium.mjs, against their own demo: one TAP line per
# top-level test. NAME SCENARIO
run_chromium() {
    local name="$1" started=$SECONDS status=0
    run_client "$name" 90 env CHROMIUM_SCENARIO="$2" \
        node --test-reporter=tap "$tests/chromium.mjs" || status=$?
    record_tap "$name" chromium.mjs "$started" "$status"
}

# Records one result per top-level TAP test line of $client_out, and a failure when the
# program failed without a failing test or printed none. NAME PROGRAM STARTED STATUS
record_tap() {
    local name="$1" program="$2" started="$3" status="$4" line results=0 failures=0
    while IFS= read -r line; do
        results=$((results + 1))
        case "$line" in
            "not ok "*)
                failures=$((failures + 1))
                record FAIL "$name: ${line#not ok * - }"
                ;;
            *"# SKIP"*) line="${line#ok * - }" && record SKIP "$name: ${line%% # SKIP*}" ;;
            "ok "*) record PASS "$name: ${line#ok * - }" "$((SECONDS - started))s" ;;
        esac
    done < <(grep -E '^(not )?ok [0-9]+ - ' "$client_out" || true)
    if ((results == 0 || (status != 0 && failures == 0))); then
        record FAIL "$name: $program" "exit status $status, $results results"
    fi
}

# daemon.mjs against a fresh daemon: the web client's whole support session. NAME
run_daemon() {
    local name="$1" started=$SECONDS status=0
    client_out="$work/$name.out"
    if ! start_daemon; then
        stop_daemon
        record FAIL "$name: daemon.mjs" "the daemon did not start"
        return
    fi
    DAEMON_URL="$daemon_url" DAEMON_EMAIL="$daemon_email" DAEMON_PASSWORD="$daemon_password" \
        timeout --kill-after=5 150 node --test-reporter=tap "$tests/daemon.mjs" \
        >"$client_out" 2>&1 || status=$?
    stop_daemon
    sed 's/^/  | /' "$client_out"
    ((status == 124)) && log "$name: timed out after 150s"
    if ((status != 0)); then
        log "$name: the daemon's log:"
        sed 's/\x1b\[[0-9;]*m//g; s/^/  daemon: /' "$daemon_log" | tail -n 60
    fi
    record_tap "$name" daemon.mjs "$started" "$status"
}

# One scenario of gst_webrtcbin.py against its own demo. NAME SCENARIO DESCRIPTION
run_gstreamer() {
    local name="$1" started=$SECONDS status=0
    run_client "$name" 60 /usr/bin/python3 "$tests/gst_webrtcbin.py" "$2" || status=$?
    if ((status == 0)); then
        record PASS "$name: $3" "$((SECONDS - started))s"
    else
        record FAIL "$name: $3" "exit status $status"
    fi
}

install_packages
install_node_modules
build_demo
build_daemon
log "demo: $demo_bin; $(/usr/bin/chromium --version 2>/dev/null); node $(node --version)"
run_chromium chromium browser
run_chromium chromium-gst gstreamer
run_gstreamer gstreamer media "webrtcbin publishes VP8+Opus, webrtcbin watches"
run_gstreamer gstreamer-rsa rsa-refused \
    "known gap: webrtcbin's default RSA certificate is refused (dimpl 0.9 takes ECDSA only)"
run_daemon daemon
printf '%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
((failed == 0))
