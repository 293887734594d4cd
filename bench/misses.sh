#!/usr/bin/env bash
# What an event costs, counted rather than timed (issue 11): instructions and simulated data
# cache misses per line of the parse floor and of `replay --threads 1` (default config and
# pack), on the first LINES lines of the bench stream, under valgrind's cachegrind.
#
#   bench/misses.sh [BASE]          LINES (default 2000000) lines of sim-20000x7-s7.jsonl
#   BASE_BIN=<path> bench/misses.sh
#
# The counts do not depend on other load on the machine: a change of a few percent shows
# where wall times on this shared host swing by a third between runs. The cache model is
# fixed (first level 32 KiB 8-way, last level 8 MiB 16-way, 64-byte lines; the last level is
# this machine's share of a shared cache, not all of it) and ignores prefetches: a miss that
# a prefetch hides still counts, so fewer misses is necessary for speed, not proof of it.
# Confirm a change with bench/parse.sh. BASE (a git revision, built as bench/parse.sh does)
# or BASE_BIN is run beside this tree, the two at once (one core each), then the floor. The
# first lines hold the first days of the stream, when the workers' states fill up; 2,000,000
# lines are about 1.8 of its 7 days (1.13 M lines a day).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || {
    echo "bench/misses.sh: needs valgrind (apt-get install valgrind)" >&2
    exit 2
}
out=bench/out
mkdir -p "$out"
lines=${LINES:-2000000}
cargo build --release --locked --quiet --bin workhours --example parse_floor
head_bin=target/release/workhours
head_floor=target/release/examples/parse_floor
head_name="head $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src examples Cargo.toml || echo +)"
base_bin=${BASE_BIN:-}
base_name="base $base_bin"
if [ -z "$base_bin" ] && [ -n "${1:-}" ]; then
    . bench/base.sh
    build_base "$1"
    base_name="base $base_sha"
fi

stream="$out/sim-20000x7-s7.jsonl"
[ -s "$stream" ] || "$head_bin" simulate --workers 20000 --days 7 --seed 7 --output "$stream"
input="$out/head-$lines.jsonl"
[ -s "$input" ] || head -n "$lines" "$stream" >"$input"
events=$(wc -l <"$input")

# Runs a program under cachegrind in the background; its counts go to $out/cg-LABEL.txt.
counted() { # label program args...
    local label=$1
    shift
    {
        valgrind --tool=cachegrind --cache-sim=yes --D1=32768,8,64 --LL=8388608,16,64 \
            --I1=32768,8,64 --cachegrind-out-file=/dev/null "$@" >/dev/null 2>"$out/cg-$label.txt" ||
            echo "bench/misses.sh: exit status $?" >>"$out/cg-$label.txt"
    } &
}
counted head "$head_bin" replay --threads 1 "$input"
if [ -n "$base_bin" ]; then
    counted base "$base_bin" replay --threads 1 "$input"
    wait
fi
counted floor "$head_floor" "$input"
wait
for label in head floor ${base_bin:+base}; do
    ! grep -q "^bench/misses.sh: exit status" "$out/cg-$label.txt" || {
        echo "bench/misses.sh: the $label run failed:" >&2
        tail -5 "$out/cg-$label.txt" >&2
        exit 1
    }
done

# "I refs", "D1 misses", "LLd misses" of a run, per line of input.
per_line() { # label
    awk -v n="$events" '
        /I +refs:/ { gsub(",", "", $4); ir = $4 }
        /D1 +misses:/ { gsub(",", "", $4); d1 = $4 }
        /LLd misses:/ { gsub(",", "", $4); ll = $4 }
        END { printf "%10.0f %10.2f %10.2f\n", ir / n, d1 / n, ll / n }' "$out/cg-$1.txt"
}
echo "cachegrind, per line of input: $events lines of $stream"
printf '  %-28s %10s %10s %10s\n' program instr "D1 miss" "LLd miss"
printf '  %-28s %s\n' "parse floor" "$(per_line floor)"
[ -z "$base_bin" ] || printf '  %-28s %s\n' "replay $base_name" "$(per_line base)"
printf '  %-28s %s\n' "replay $head_name" "$(per_line head)"
if [ -n "$base_bin" ]; then
    read -r hi hd hl <<<"$(per_line head)"
    read -r bi bd bl <<<"$(per_line base)"
    awk -v a="$hi" -v b="$bi" -v c="$hd" -v d="$bd" -v e="$hl" -v f="$bl" \
        'BEGIN { printf "  head/base: instructions %.4f, D1 misses %.4f, LLd misses %.4f\n", a/b, c/d, e/f }'
fi
