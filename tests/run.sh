#!/usr/bin/env bash
# The whole test suite, installing what it needs. `.ci/run` calls exactly this.
#
#   tests/run.sh          format, lints, unit, property and integration tests, the
#                         Prometheus rule tests, the demo page and the monthly report in
#                         headless Chromium, replay and status against an independent model
#                         on random streams (tests/model), then the live tests (tests/live:
#                         `workhours run` against a Tansu broker, its console in Chromium)
#
# It needs only a Rust toolchain (cargo, rustfmt, clippy), gcc and Python 3 (3.9 or
# later, with pip or ensurepip); everything else it installs itself when missing: the
# Tansu broker (cargo install, ~20 min on 2 cores, started first in the background) and
# the Python packages confluent-kafka and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$PATH:$cargo_bin"
tansu_pid=
tansu_log=
if ! command -v tansu >/dev/null; then
    tansu_log=$(mktemp -t tansu-install.XXXXXX.log)
    step "cargo install tansu 0.6.0 in the background (log: $tansu_log)"
    cargo install tansu --locked --version 0.6.0 --features dynostore,libsql >"$tansu_log" 2>&1 &
    tansu_pid=$!
    # Do not leave a long build behind when an earlier step fails.
    trap '[ -z "$tansu_pid" ] || kill "$tansu_pid" 2>/dev/null || true' EXIT
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --locked --all-targets -- -D warnings

step "cargo test (unit, property and CLI tests)"
cargo test --locked --all-targets

step "Python packages of the live tests (confluent-kafka, pytest)"
if ! python3 -c 'import confluent_kafka, pytest' 2>/dev/null; then
    python3 -m pip --version >/dev/null 2>&1 || python3 -m ensurepip --upgrade
    # Root is fine here (CI containers); a distribution's "externally managed" Python
    # needs --break-system-packages.
    export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
    python3 -m pip install --quiet confluent-kafka pytest ||
        python3 -m pip install --quiet --break-system-packages confluent-kafka pytest
fi
python3 -c 'import confluent_kafka, pytest; print("confluent-kafka", confluent_kafka.__version__, "librdkafka", confluent_kafka.libversion()[0], "pytest", pytest.__version__)'

step "cargo build --release (the binary the live tests run)"
cargo build --release --locked
export TEST_WORKHOURS_BIN="${CARGO_TARGET_DIR:-target}/release/workhours"
case $TEST_WORKHOURS_BIN in /*) ;; *) TEST_WORKHOURS_BIN="$PWD/$TEST_WORKHOURS_BIN" ;; esac

if [ -n "$tansu_pid" ]; then
    step "waiting for the tansu install"
    status=0
    wait "$tansu_pid" || status=$?
    tansu_pid=
    if [ "$status" -ne 0 ]; then
        tail -n 30 "$tansu_log"
        echo "cargo install tansu failed (log: $tansu_log)" >&2
        exit 1
    fi
fi
tansu --version

step "Debian packages: prometheus (promtool, the end-to-end scrape), chromium and a CJK font (the demo page), openssl (the live TLS test's certificates)"
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-wqy-microhei)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

step "Prometheus rules and dashboards (tests/promtool.sh)"
bash tests/promtool.sh

step "demo page in headless Chromium (tests/browser/check_page.py)"
python3 tests/browser/check_page.py --bin "$TEST_WORKHOURS_BIN" --out "${CARGO_TARGET_DIR:-target}/browser-test"

step "monthly report in headless Chromium (tests/browser/check_report.py)"
# May 2026 (two statutory holidays, with April before them for holiday pay's 28 days), a fifth
# of the persons on two platforms, persons as the subject: every chart and column is drawn.
report_dir="${CARGO_TARGET_DIR:-target}/report-test"
mkdir -p "$report_dir"
"$TEST_WORKHOURS_BIN" simulate --workers 400 --days 45 --seed 8 --start 2026-04-17 --persons 0.2 \
    --output "$report_dir/events.jsonl"
printf '[time]\nholidays = "%s"\n[rules]\nsubject = "person"\n' "$PWD/config/holidays/cn.toml" >"$report_dir/report.toml"
python3 tests/browser/check_report.py --bin "$TEST_WORKHOURS_BIN" --month 2026-05 \
    --input "$report_dir/events.jsonl" --config "$report_dir/report.toml" --out "$report_dir"

step "replay, status, report, pseudonymize and simulate against independent models of SPEC sections 2 to 8 (python3 -m pytest tests/model; SIMULATE_KAFKA=1: simulate --kafka on Tansu too)"
SIMULATE_KAFKA=1 python3 -m pytest tests/model -q -p no:cacheprovider

step "live tests (python3 -m pytest tests/live): the pipeline against Tansu, Prometheus scraping it"
python3 -m pytest tests/live -q -p no:cacheprovider
