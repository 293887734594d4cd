#!/usr/bin/env bash
# Replay benchmarks (issues 2, 11): every core against one, memory per worker, a million
# workers.
#
#   bench/replay.sh [threads|memory|million|ttl|all]... default: threads memory
#   BASE=<git rev> bench/replay.sh threads              also build BASE and measure it in
#                                                       the same run, alternating
#   BASE_BIN=<path> bench/replay.sh threads             the same with a base already built
#
# threads  `simulate --workers 20000 --days 7 --seed 7`; `replay --threads 1` pinned to one
#          core (taskset -c 0) against `replay` with its default (the available cores,
#          unpinned); the ratio of rates is the target (>= 1.8 on 2 cores). Also checks that
#          both outputs are byte-identical. ROUNDS (default 2) alternations, best of each.
#          Also the CPU seconds (user + sys, least of the rounds): on a shared machine the
#          ratio of wall times swings, the CPU of every core against one much less (on 2
#          cores, 1.8x needs the default threads to spend at most about 1.11x the CPU).
# memory   peak RSS of `replay --threads 1` at 2,000 and 40,000 workers (`--days 2`, event ids
#          and the default dedup_window included): bytes per additional worker (<= 1 KiB).
# million  one simulated day of 1,000,000 workers piped from `simulate` into `replay` (the
#          file would be about 10 GB): time, events/s and peak RSS of replay.
# ttl      one simulated day of 100,000 workers (`--seed 3`, 5.6 M events), `replay --threads
#          1` with `WORKHOURS_TIME__WORKER_TTL=30m` (about 230,000 workers forgotten within
#          the day) against the default: forgetting a worker must cost about its own work,
#          not a walk of the day's workers (CPU ratio 2.5 to 2.8x when it did, 1.1 to 1.35x since).
#          With BASE or BASE_BIN, the base's ratio too. ROUNDS alternations, least CPU of each.
#
# Streams and results go under bench/out/ (ignored by git). On a shared, noisy machine
# compare ratios from one run, never lone times.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
cargo build --release --locked --quiet --bin workhours
target="${CARGO_TARGET_DIR:-target}"
bin=$target/release/workhours
rounds=${ROUNDS:-2}
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(threads memory)
[ "${sections[0]}" != all ] || sections=(threads memory million ttl)

base_bin=${BASE_BIN:-}
if [ -z "$base_bin" ] && [ -n "${BASE:-}" ]; then
    . bench/base.sh
    build_base "$BASE"
fi

stream() { # workers days seed -> path
    local path="$out/sim-$1x$2-s$3.jsonl"
    [ -s "$path" ] || "$bin" simulate --workers "$1" --days "$2" --seed "$3" --output "$path"
    echo "$path"
}

# Runs a command under /usr/bin/time; prints "wall_s cpu_s peak_kib".
timed() {
    /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" "$@" 2>"$out/stderr.txt" ||
        { cat "$out/stderr.txt" >&2; exit 1; }
    awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$out/time.txt"
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN{printf "%.0f", n/s}'; }
better() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(b == "" || a < b)}'; }

threads() {
    local input events cores
    input=$(stream 20000 7 7)
    events=$(wc -l <"$input")
    cores=$(nproc)
    declare -A best cpu
    local progs=(one all)
    # The base runs on one core only when it predates --threads.
    local base_flag=
    [ -z "$base_bin" ] || progs=(base_one one all)
    if [ -n "$base_bin" ] && "$base_bin" replay --help | grep -q -- --threads; then
        base_flag="--threads 1"
        progs=(base_one base_all one all)
    fi
    for _ in $(seq "$rounds"); do
        for prog in "${progs[@]}"; do
            local b=$bin
            case $prog in base_*) b=$base_bin ;; esac
            cat "$input" >/dev/null # the page cache, so that no program pays for the disk
            local wall used
            case $prog in
            base_one) read -r wall used _ <<<"$(timed taskset -c 0 sh -c "\"$b\" replay $base_flag \"$input\" >\"$out/$prog.out\"")" ;;
            one) read -r wall used _ <<<"$(timed taskset -c 0 sh -c "\"$b\" replay --threads 1 \"$input\" >\"$out/$prog.out\"")" ;;
            base_all) read -r wall used _ <<<"$(timed sh -c "\"$b\" replay \"$input\" >\"$out/$prog.out\"")" ;;
            all) read -r wall used _ <<<"$(timed sh -c "\"$b\" replay \"$input\" >\"$out/$prog.out\"")" ;;
            esac
            echo "  ($prog: ${wall}s, ${used}s CPU)" >&2
            better "$wall" "${best[$prog]:-}" && best[$prog]=$wall
            better "$used" "${cpu[$prog]:-}" && cpu[$prog]=$used
        done
    done
    echo "replay on every core ($cores) against one, best of $rounds: $events events, $input"
    for prog in "${progs[@]}"; do
        printf '  %-10s %8ss %12s events/s %8ss CPU\n' "$prog" "${best[$prog]}" \
            "$(rate "$events" "${best[$prog]}")" "${cpu[$prog]}"
    done
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
    echo "  all/one: $(ratio "${best[one]}" "${best[all]}")x (target >= 1.8 on 2 cores)," \
        "CPU of all/one: $(ratio "${cpu[all]}" "${cpu[one]}")x"
    [ -z "${best[base_all]:-}" ] ||
        echo "  base all/one: $(ratio "${best[base_one]}" "${best[base_all]}")x," \
            "CPU of base all/one: $(ratio "${cpu[base_all]}" "${cpu[base_one]}")x"
    [ -z "$base_bin" ] || echo "  one head/base: $(awk -v a="${best[base_one]}" -v b="${best[one]}" 'BEGIN{printf "%.2f", a/b}')x"
    if cmp -s "$out/one.out" "$out/all.out"; then
        echo "  outputs of --threads 1 and --threads $cores: byte-identical ($(wc -l <"$out/one.out") alerts)"
    else
        echo "  OUTPUTS DIFFER: $out/one.out $out/all.out" >&2
        exit 1
    fi
    if [ -n "$base_bin" ]; then
        if cmp -s "$out/base_one.out" "$out/one.out"; then
            echo "  output of base and head: byte-identical"
        else
            echo "  output of base and head differ (expected only when the rules changed)"
        fi
    fi
}

memory() {
    local small large rs rl
    small=$(stream 2000 2 1)
    large=$(stream 40000 2 1)
    read -r _ _ rs <<<"$(timed sh -c "\"$bin\" replay --threads 1 \"$small\" >/dev/null")"
    read -r _ _ rl <<<"$(timed sh -c "\"$bin\" replay --threads 1 \"$large\" >/dev/null")"
    echo "memory, replay --threads 1, --days 2 with event ids (dedup_window 1h):"
    echo "  peak RSS $((rs / 1024)) MiB at 2,000 workers, $((rl / 1024)) MiB at 40,000:" \
        "$(awk -v a="$rs" -v b="$rl" 'BEGIN{printf "%.0f", (b-a)*1024/38000}') bytes per additional worker (target <= 1024)"
    read -r _ _ rs <<<"$(timed sh -c "\"$bin\" replay \"$small\" >/dev/null")"
    read -r _ _ rl <<<"$(timed sh -c "\"$bin\" replay \"$large\" >/dev/null")"
    echo "  with the default threads ($(nproc)): $((rs / 1024)) MiB and $((rl / 1024)) MiB:" \
        "$(awk -v a="$rs" -v b="$rl" 'BEGIN{printf "%.0f", (b-a)*1024/38000}') bytes per additional worker"
}

million() {
    local wall cpu peak events
    echo "one day of 1,000,000 workers, simulate | replay (default threads):"
    /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" sh -c \
        "\"$bin\" simulate --workers 1000000 --days 1 --seed 3 | \"$bin\" replay >\"$out/million.out\" 2>\"$out/million.err\"" ||
        { cat "$out/million.err" >&2; exit 1; }
    # /usr/bin/time's peak is the largest of the two processes; replay's own is in /proc.
    read -r wall _ _ peak <"$out/time.txt"
    events=$(awk '/^  lines read /{print $3}' "$out/million.err")
    echo "  $events events in ${wall}s wall (simulate and replay sharing the cores):" \
        "$(rate "$events" "$wall") events/s, peak RSS $((peak / 1024)) MiB (the larger process)," \
        "$(wc -l <"$out/million.out") alerts"
}

ttl() {
    local input r b ttl_value cpu key
    input=$(stream 100000 1 3)
    declare -A least
    local bins=(head)
    [ -z "$base_bin" ] || bins+=(base)
    for r in $(seq "$rounds"); do
        for b in "${bins[@]}"; do
            local prog=$bin
            [ "$b" = head ] || prog=$base_bin
            for ttl_value in default 30m; do
                local ttl_env=()
                [ "$ttl_value" = default ] || ttl_env=("WORKHOURS_TIME__WORKER_TTL=$ttl_value")
                read -r _ cpu _ <<<"$(timed taskset -c 0 env "${ttl_env[@]}" sh -c "\"$prog\" replay --threads 1 \"$input\" >/dev/null")"
                key="$b $ttl_value"
                echo "  ($key, round $r: ${cpu}s CPU)"
                if better "$cpu" "${least[$key]:-}"; then least[$key]=$cpu; fi
            done
        done
    done
    echo "worker_ttl 30m against the default, replay --threads 1, one day of 100,000 workers ($(wc -l <"$input") events), least CPU of $rounds:"
    for b in "${bins[@]}"; do
        echo "  $b: ${least[$b default]}s and ${least[$b 30m]}s CPU:" \
            "$(awk -v a="${least[$b default]}" -v c="${least[$b 30m]}" 'BEGIN{printf "%.2f", c/a}')x"
    done
}

for section in "${sections[@]}"; do
    case $section in
    threads | memory | million | ttl) "$section" ;;
    *) echo "bench/replay.sh: unknown section $section (threads, memory, million, ttl, all)" >&2; exit 2 ;;
    esac
done
