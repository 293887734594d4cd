#!/usr/bin/env bash
# Hostile copies benchmark (audit AS): copies of one event_id with falling `ts`, all within the
# lateness, are each accepted in place of the one before (the earlier `ts` counts, SPEC 5), and
# the copy replaced waits in the reorder buffer until its instant. Whatever reads them (replay,
# status, report) must stay linear: each command's time on such a stream is compared, in one
# script run, with the same command on a stream of the same size and shape whose events all
# have their own `event_id` (the floor).
#
#   bench/copies.sh [COPIES]    COPIES per worker (default 4000; 50 workers: 200,000 lines)
#
# BENCH_BIN=PATH measures another build instead of this tree's.
# The two streams are written under bench/out/ (ignored by git). A ratio near 1 is the target;
# before the fix (aae8888) `status` and `report` took 300 times the floor at 200,000 lines and
# four times as long for twice the lines (a walk over every replaced copy at each step).
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:-4000}
out=bench/out
mkdir -p "$out"
bin=${BENCH_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --locked --quiet --bin workhours
    bin="${CARGO_TARGET_DIR:-target}/release/workhours"
fi
start=1772409600000 # 2026-03-02T08:00:00+08:00
chain="$out/copies-$copies.jsonl"
unique="$out/copies-$copies-unique.jsonl"
python3 - "$copies" "$start" "$chain" "$unique" <<'PY'
import sys
copies, start, chain, unique = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
line = '{"worker_id":"w%d","kind":"heartbeat","ts":%d,"event_id":"%s"}\n'
with open(chain, "w") as c, open(unique, "w") as u:
    for k in range(copies):
        for w in range(50):
            ts = start + copies - 1 - k  # falling, 1 ms apart: all within the lateness
            c.write(line % (w, ts, "x"))
            u.write(line % (w, ts, "x%d" % k))
PY
echo "$(wc -l <"$chain") lines each: $copies copies of one id per worker, falling ts" >&2
at=$((start + 15000))
for command in "replay" "status --at $at" "report --month 2026-03 --format csv"; do
    for input in "$unique" "$chain"; do
        /usr/bin/time -f '%e %M' -o "$out/time.txt" $bin $command "$input" >/dev/null 2>"$out/copies.err" ||
            { cat "$out/copies.err" >&2; exit 1; }
        read -r wall rss <"$out/time.txt"
        if [ "$input" = "$unique" ]; then floor=$wall; floor_rss=$rss; fi
    done
    ratio=$(awk -v a="$wall" -v b="$floor" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
    printf '%-8s copies %6.2f s (%d KB), floor %6.2f s (%d KB): %s x the floor\n' \
        "${command%% *}" "$wall" "$rss" "$floor" "$floor_rss" "$ratio"
done
