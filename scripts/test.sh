#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit and integration tests (including the
# interop tests against independent WebRTC stacks) and the browser tests.
#
# It installs what the tests need when it is missing (Debian packages, a Python venv with
# aiortc, playwright-core for the browser tests), so it works as root on a fresh Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

stage() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

stage "test environment"
bash scripts/setup-test-env.sh

stage "rustfmt"
cargo fmt --all -- --check

stage "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

stage "cargo test"
cargo test --workspace --locked

stage "browser tests"
bash scripts/browser-tests.sh

stage "done"
