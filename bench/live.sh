#!/usr/bin/env bash
# Live pipeline benchmarks on a local Tansu broker: `workhours run` throughput next to the
# raw consume rate of the same topic, and alert latency (live_bench.py); with --restore, the
# time to restore a state topic of 1,000,000 workers (live_restore.py).
#
#   bench/live.sh [live_bench.py options]     e.g. --events 200000, --lateness 5,
#                                              --skip latency; see bench/live_bench.py -h
#   bench/live.sh --restore [live_restore.py options]   e.g. --workers 100000 --versions 11
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
cargo build --release --locked --quiet --bin workhours --example consume_count --example state_fill
target="${CARGO_TARGET_DIR:-target}"
case $target in /*) ;; *) target="$PWD/$target" ;; esac
export TEST_WORKHOURS_BIN="$target/release/workhours" CONSUME_COUNT_BIN="$target/release/examples/consume_count"
export STATE_FILL_BIN="$target/release/examples/state_fill"
if [ "${1:-}" = "--restore" ]; then
    shift
    exec python3 bench/live_restore.py "$@"
fi
exec python3 bench/live_bench.py "$@"
