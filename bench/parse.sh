#!/usr/bin/env bash
# Parse floor benchmark (issue 11): replay's rate against the parse floor, on one core.
#
#   bench/parse.sh [BASE [ROUNDS]]
#
# The floor is examples/parse_floor.rs: replay's block reader and event::parse on every
# line, the events dropped. Generates `workhours simulate --workers 20000 --days 7 --seed 7`
# under bench/out/ (ignored by git), then measures, pinned to core 0 under /usr/bin/time,
# the floor and `workhours replay` (default config and pack) on that file, and prints
# events/s of each and the ratio replay/floor. The floor with serde_json alone
# (`parse_floor --reference`, the parser replay had when issue 11 set its target) is measured
# too, and replay's rate over it printed: the yardstick the issue's "today's ratio" used.
#
# BASE, a git revision that has examples/parse_floor.rs, is built too (from `git archive`,
# with its own target directory under bench/out/) and measured in the same run, each
# measurement alternating with this tree's: on a shared, noisy machine compare ratios from
# one run, never lone times. ROUNDS (default 1) repeats the alternation; the best round of
# each program counts. Events/s are given by wall time and by CPU time (user + sys), the
# latter less disturbed by other load on the core.
#
# WORKERS and DAYS (default 20000 and 7) choose the simulated stream: `WORKERS=2000 DAYS=70`
# has about the same events and worker-days with a tenth of the workers, so that the two
# runs differ in the working set only (what reaching each worker's state costs).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-}
rounds=${2:-1}
out=bench/out
mkdir -p "$out"
cargo build --release --locked --quiet --bin workhours --example parse_floor
head_bin=target/release/workhours
head_floor=target/release/examples/parse_floor
head_name="head $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src examples Cargo.toml || echo +)"

if [ -n "$base" ]; then
    git cat-file -e "$base:examples/parse_floor.rs" 2>/dev/null ||
        { echo "bench/parse.sh: $base has no examples/parse_floor.rs" >&2; exit 2; }
    . bench/base.sh
    build_base "$base" --example parse_floor
    sha=$base_sha
    base_floor=$base_target/examples/parse_floor
fi

workers=${WORKERS:-20000}
days=${DAYS:-7}
input="$out/sim-${workers}x${days}-s7.jsonl"
[ -s "$input" ] || "$head_bin" simulate --workers "$workers" --days "$days" --seed 7 --output "$input"
events=$(wc -l <"$input")
bytes=$(stat -c %s "$input")

# The programs, by label.
cmd_floor_head=("$head_floor" "$input")
cmd_replay_head=("$head_bin" replay "$input")
cmd_floor_ref_head=("$head_floor" --reference "$input")
if [ -n "$base" ]; then
    cmd_floor_base=("$base_floor" "$input")
    cmd_replay_base=("$base_bin" replay "$input")
fi

# Best wall and CPU seconds of each program over the rounds, by label.
declare -A wall cpu
measure() { # label
    local -n cmd="cmd_$1"
    # The file is larger than what the page cache reliably keeps on a shared machine: read it
    # again before each program, so that none pays for the disk.
    cat "$input" >/dev/null
    /usr/bin/time -f '%e %U %S' -o "$out/time.txt" taskset -c 0 "${cmd[@]}" >/dev/null 2>"$out/stderr.txt" ||
        { cat "$out/stderr.txt" >&2; exit 1; }
    local e u s c
    read -r e u s <"$out/time.txt"
    c=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
    echo "  ($1: ${e}s wall, ${c}s cpu)" >&2
    if [ -z "${wall[$1]:-}" ] || awk -v a="$e" -v b="${wall[$1]}" 'BEGIN{exit !(a<b)}'; then
        wall[$1]=$e
    fi
    if [ -z "${cpu[$1]:-}" ] || awk -v a="$c" -v b="${cpu[$1]}" 'BEGIN{exit !(a<b)}'; then
        cpu[$1]=$c
    fi
}

labels=(floor_head floor_ref_head replay_head)
[ -n "$base" ] && labels=(floor_base floor_head floor_ref_head replay_base replay_head)
for _ in $(seq "$rounds"); do
    for label in "${labels[@]}"; do
        measure "$label"
    done
done

rate() { awk -v n="$events" -v s="$1" 'BEGIN{printf "%.0f", n/s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b/a}'; } # rate of $1 over rate of $2 = $2 s / $1 s
echo "parse floor and replay, one core, best of $rounds: $events events ($((bytes / 1048576)) MiB), $input"
printf '  %-22s %9s %12s %9s %12s\n' program "wall s" "events/s" "cpu s" "events/s cpu"
row() { # label name
    printf '  %-22s %9s %12s %9s %12s\n' "$2" "${wall[$1]}" "$(rate "${wall[$1]}")" "${cpu[$1]}" "$(rate "${cpu[$1]}")"
}
[ -n "$base" ] && row floor_base "floor base $sha"
row floor_head "floor $head_name"
row floor_ref_head "floor serde_json"
[ -n "$base" ] && row replay_base "replay base $sha"
row replay_head "replay $head_name"
echo "  replay/floor (wall; cpu): $head_name $(ratio "${wall[replay_head]}" "${wall[floor_head]}"); $(ratio "${cpu[replay_head]}" "${cpu[floor_head]}")"
echo "  replay/floor serde_json (wall; cpu): $head_name $(ratio "${wall[replay_head]}" "${wall[floor_ref_head]}"); $(ratio "${cpu[replay_head]}" "${cpu[floor_ref_head]}")"
if [ -n "$base" ]; then
    echo "  replay/floor (wall; cpu): base $sha $(ratio "${wall[replay_base]}" "${wall[floor_base]}"); $(ratio "${cpu[replay_base]}" "${cpu[floor_base]}")"
    echo "  floor head/base (wall; cpu): $(ratio "${wall[floor_head]}" "${wall[floor_base]}"); $(ratio "${cpu[floor_head]}" "${cpu[floor_base]}")"
    echo "  replay head/base (wall; cpu): $(ratio "${wall[replay_head]}" "${wall[replay_base]}"); $(ratio "${cpu[replay_head]}" "${cpu[replay_base]}")"
fi
