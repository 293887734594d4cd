#!/usr/bin/env bash
# Live pipeline benchmark (issue 3): `workhours run` throughput next to the raw consume
# rate of the same topic, and alert latency, on a local Tansu broker.
#
#   bench/live.sh [live_bench.py options]     e.g. --events 200000, --max-delay 200ms,
#                                              --skip latency; see bench/live_bench.py -h
#
# Needs tansu on PATH (tests/run.sh installs it) and Python 3 with confluent-kafka.
# Streams, logs and results.json go under bench/out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
command -v tansu >/dev/null || {
    echo "tansu not found: cargo install tansu --locked --version 0.6.0 --features dynostore,libsql" >&2
    exit 1
}
python3 -c 'import confluent_kafka' 2>/dev/null ||
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet confluent-kafka
cargo build --release --locked --quiet --bin workhours --example consume_count
target="${CARGO_TARGET_DIR:-target}"
case $target in /*) ;; *) target="$PWD/$target" ;; esac
export TEST_WORKHOURS_BIN="$target/release/workhours" CONSUME_COUNT_BIN="$target/release/examples/consume_count"
exec python3 bench/live_bench.py "$@"
