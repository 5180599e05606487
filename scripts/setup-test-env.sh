#!/usr/bin/env bash
# Prepares a machine for media-core's interop tests: the Debian packages they need and a
# Python virtual environment at .venv in the repository root with aiortc installed.
#
# Idempotent: packages are installed only when missing (with one apt-get update first),
# the venv is created only when absent, and pip runs only when the requirements changed.
# Meant for a fresh Debian 12 as root; without root it can still build the venv when the
# packages are already there.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
requirements="$repo/media-core/tests/interop/requirements.txt"
stamp="$venv/.requirements.sha256"

log() { printf 'setup-test-env: %s\n' "$*"; }

# Debian packages the tests need, each listed once with the check that says it is present.
missing_packages() {
    if ! command -v python3 >/dev/null 2>&1; then
        echo python3
    fi
    # The TLS tests offer CBC and static-RSA suites with `openssl s_client`.
    if ! command -v openssl >/dev/null 2>&1; then
        echo openssl
    fi
    # The HTTP/2 test of the daemon uses curl, the client the README shows.
    if ! command -v curl >/dev/null 2>&1; then
        echo curl
    fi
    # Debian ships ensurepip, which `python3 -m venv` needs, in python3-venv.
    if command -v dpkg-query >/dev/null 2>&1; then
        if ! dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'ok installed'; then
            echo python3-venv
        fi
    elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        echo python3-venv
    fi
}

install_packages() {
    local packages
    mapfile -t packages < <(missing_packages)
    if ((${#packages[@]} == 0)); then
        log "Debian packages present"
        return
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        log "missing packages: ${packages[*]}; run this script as root to install them" >&2
        exit 1
    fi
    log "installing ${packages[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
}

create_venv() {
    if [[ -x "$venv/bin/python" ]]; then
        log "venv present at $venv"
        return
    fi
    log "creating venv at $venv"
    python3 -m venv "$venv"
}

install_requirements() {
    local want
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
        && "$venv/bin/python" -c 'import aiortc' >/dev/null 2>&1; then
        log "requirements up to date"
        return
    fi
    log "installing $requirements"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements"
    echo "$want" >"$stamp"
}

install_packages
create_venv
install_requirements
log "aiortc $("$venv/bin/python" -c 'import aiortc; print(aiortc.__version__)') ready in $venv"
