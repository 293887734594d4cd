#!/usr/bin/env bash
# Replay benchmark (issue 2): throughput on one core and memory per tracked worker.
#
#   bench/replay.sh [WORKERS] [DAYS]     default 20000 workers, 7 days
#
# Generates the streams with `workhours simulate` under bench/out/ (ignored by git), then
# runs `workhours replay` pinned to one core under /usr/bin/time. Prints events/s, the peak
# RSS, and the RSS growth per worker between 2,000 and 40,000 workers (same days).
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-20000}
days=${2:-7}
out=bench/out
mkdir -p "$out"
cargo build --release --locked --quiet
bin=target/release/workhours

stream() { # workers days -> path
    local path="$out/sim-$1x$2.jsonl"
    [ -s "$path" ] || "$bin" simulate --workers "$1" --days "$2" --seed 1 --output "$path"
    echo "$path"
}

measure() { # path -> "seconds peak_kib"
    /usr/bin/time -f '%e %M' -o "$out/time.txt" taskset -c 0 "$bin" replay "$1" >/dev/null 2>"$out/replay-stderr.txt"
    cat "$out/time.txt"
}

input=$(stream "$workers" "$days")
lines=$(wc -l <"$input")
bytes=$(stat -c %s "$input")
measure "$input" >/dev/null # warm the page cache
read -r seconds peak <<<"$(measure "$input")"
alerts=$(awk '/^  alerts /{print $2}' "$out/replay-stderr.txt")
echo "throughput: $lines events ($((bytes / 1048576)) MiB, $alerts alerts) in ${seconds}s on one core:" \
    "$(awk -v n="$lines" -v s="$seconds" 'BEGIN{printf "%.0f", n/s}') events/s, peak RSS $((peak / 1024)) MiB"

small=$(stream 2000 "$days")
large=$(stream 40000 "$days")
per_worker() { # small_kib large_kib
    awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", (b-a)*1024/38000}'
}
read -r _ rss_small <<<"$(measure "$small")"
read -r _ rss_large <<<"$(measure "$large")"
echo "memory with event ids: peak RSS $((rss_small / 1024)) MiB at 2000 workers, $((rss_large / 1024)) MiB at 40000:" \
    "$(per_worker "$rss_small" "$rss_large") bytes per additional worker (replay keeps every event_id, SPEC 5)"

# Worker state alone: the same streams without event_id (nothing for duplicate detection
# to keep).
strip() { # path -> path without event ids
    local stripped="${1%.jsonl}-noid.jsonl"
    [ -s "$stripped" ] || sed -E 's/"event_id":"[^"]*",//' "$1" >"$stripped"
    echo "$stripped"
}
read -r _ rss_small <<<"$(measure "$(strip "$small")")"
read -r _ rss_large <<<"$(measure "$(strip "$large")")"
echo "memory without event ids: peak RSS $((rss_small / 1024)) MiB at 2000 workers, $((rss_large / 1024)) MiB at 40000:" \
    "$(per_worker "$rss_small" "$rss_large") bytes per additional worker (state of workers)"
