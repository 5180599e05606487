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
# Meant for a fresh Debian 12 as root (or a machine that already has the packages).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tests="$repo/tests/browser"
work="$(mktemp -d)"
demo_pid=""
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
    local target
    target="$(cd "$repo" && cargo metadata --format-version 1 --no-deps | node -e '
        let json = "";
        process.stdin.on("data", (d) => (json += d));
        process.stdin.on("end", () => console.log(JSON.parse(json).target_directory));')"
    demo_bin="$target/debug/examples/loopback_demo"
    [[ -x "$demo_bin" ]] || { log "no demo binary at $demo_bin" >&2; exit 1; }
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

cleanup() {
    stop_demo
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
    local name="$1" started=$SECONDS status=0 line results=0 failures=0
    run_client "$name" 90 env CHROMIUM_SCENARIO="$2" \
        node --test-reporter=tap "$tests/chromium.mjs" || status=$?
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
        record FAIL "$name: chromium.mjs" "exit status $status, $results results"
    fi
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
log "demo: $demo_bin; $(/usr/bin/chromium --version 2>/dev/null); node $(node --version)"
run_chromium chromium browser
run_chromium chromium-gst gstreamer
run_gstreamer gstreamer media "webrtcbin publishes VP8+Opus, webrtcbin watches"
run_gstreamer gstreamer-rsa rsa-refused \
    "known gap: webrtcbin's default RSA certificate is refused (dimpl 0.9 takes ECDSA only)"
printf '%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
((failed == 0))
