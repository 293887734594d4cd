#!/usr/bin/env bash
# The whole test suite, installing what it needs. `.ci/run` calls exactly this.
#
#   tests/run.sh          format, lints, unit, property and integration tests
#
# It needs only a Rust toolchain (cargo, rustfmt, clippy) and gcc; everything else it
# installs itself when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --locked --all-targets -- -D warnings

step "cargo test (unit, property and CLI tests)"
cargo test --locked --all-targets

step "demo page in headless Chromium (tests/browser/check_page.py)"
if ! command -v chromium >/dev/null 2>&1; then
    # Debian's chromium; a CJK font so the page's rule references render in the screenshot.
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update
    $SUDO apt-get install -y chromium fonts-wqy-microhei
fi
cargo build --locked
python3 tests/browser/check_page.py --out "${CARGO_TARGET_DIR:-target}/browser-test"
