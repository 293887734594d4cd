#!/usr/bin/env bash
# Rule-pack benchmark (issue 9), one script run, one core (taskset -c 0), `--threads 1`:
#
#   bench/packs.sh [BASE]      BASE: the engine before rule packs (default e2805a8)
#
# 1. The default pack against BASE on the same file (`simulate --workers 20000 --days 7
#    --seed 7`): ratio of rates, target >= 0.95, and whether the outputs are byte-identical.
# 2. `eu-561` on a stream with `activity` events (`simulate --workers 20000 --days 7 --seed 7
#    --mix packs`), beside the default pack on the same file.
#
# ROUNDS (default 3) alternations, best of each. Streams and results under bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
base=${1:-e2805a8}
rounds=${ROUNDS:-3}
cargo build --release --locked --quiet --bin workhours
target="${CARGO_TARGET_DIR:-target}"
bin=$target/release/workhours
. bench/base.sh
build_base "$base"
base_flag=
! "$base_bin" replay --help | grep -q -- --threads || base_flag="--threads 1"

plain="$out/sim-20000x7-s7.jsonl"
[ -s "$plain" ] || "$bin" simulate --workers 20000 --days 7 --seed 7 --output "$plain"
mixed="$out/sim-20000x7-s7-packs.jsonl"
[ -s "$mixed" ] || "$bin" simulate --workers 20000 --days 7 --seed 7 --mix packs --output "$mixed"

# run NAME BIN FLAGS PACK INPUT -> best wall time in best[NAME]
declare -A best
run() {
    local name=$1 b=$2 flags=$3 pack=$4 input=$5 wall
    cat "$input" >/dev/null
    /usr/bin/time -f '%e' -o "$out/time.txt" taskset -c 0 env ${pack:+WORKHOURS_RULES__PACK=$pack} \
        sh -c "\"$b\" replay $flags \"$input\" >\"$out/packs-$name.out\" 2>\"$out/packs-$name.err\"" ||
        { cat "$out/packs-$name.err" >&2; exit 1; }
    wall=$(cat "$out/time.txt")
    echo "  ($name: ${wall}s)" >&2
    if [ -z "${best[$name]:-}" ] || awk -v a="$wall" -v b="${best[$name]}" 'BEGIN{exit !(a < b)}'; then
        best[$name]=$wall
    fi
}
for _ in $(seq "$rounds"); do
    # The base has no packs (nor the key): nothing is set for it.
    run base "$base_bin" "$base_flag" "" "$plain"
    run default "$bin" "--threads 1" cn-weihai-2022 "$plain"
    run mixed-default "$bin" "--threads 1" cn-weihai-2022 "$mixed"
    run mixed-eu561 "$bin" "--threads 1" eu-561 "$mixed"
done
rate() { awk -v n="$1" -v s="$2" 'BEGIN{printf "%.0f", n/s}'; }
n_plain=$(wc -l <"$plain")
n_mixed=$(wc -l <"$mixed")
echo "rule packs, replay --threads 1 on one core, best of $rounds"
printf '  %-34s %8ss %10s events/s\n' "engine before packs ($base_sha)" "${best[base]}" "$(rate "$n_plain" "${best[base]}")"
printf '  %-34s %8ss %10s events/s\n' "default pack" "${best[default]}" "$(rate "$n_plain" "${best[default]}")"
echo "  default pack / before: $(awk -v a="${best[base]}" -v b="${best[default]}" 'BEGIN{printf "%.2f", a/b}')x (target >= 0.95) on $n_plain events"
if cmp -s "$out/packs-base.out" "$out/packs-default.out"; then
    echo "  outputs: byte-identical ($(wc -l <"$out/packs-default.out") alerts)"
elif cmp -s <(LC_ALL=C sort "$out/packs-base.out") <(LC_ALL=C sort "$out/packs-default.out"); then
    # Since 862ed20 replay writes an instant's alerts by key; a base before it, by worker rank.
    echo "  outputs: the same lines, ties at one instant in another order ($(wc -l <"$out/packs-default.out") alerts)"
else
    echo "  OUTPUTS DIFFER: $out/packs-base.out $out/packs-default.out" >&2
    exit 1
fi
echo "  with activity events (--mix packs, $n_mixed events):"
printf '  %-34s %8ss %10s events/s\n' "default pack" "${best[mixed-default]}" "$(rate "$n_mixed" "${best[mixed-default]}")"
printf '  %-34s %8ss %10s events/s, %s alerts\n' "eu-561" "${best[mixed-eu561]}" \
    "$(rate "$n_mixed" "${best[mixed-eu561]}")" "$(wc -l <"$out/packs-mixed-eu561.out")"
