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
