# Sourced by the benchmarks: builds a base revision to measure beside this tree, in the same
# run. `build_base REV [CARGO ARGS...]` extracts REV (`git archive`) under $out/base-SHA once,
# builds its `workhours` (and whatever CARGO ARGS add, e.g. `--example parse_floor`) with its
# own target directory under $out, and sets `base_bin`, `base_sha` and `base_target`.
build_base() {
    base_sha=$(git rev-parse --short "$1^{commit}")
    shift
    local src="$out/base-$base_sha"
    if [ ! -f "$src/Cargo.toml" ]; then
        mkdir -p "$src"
        git archive "$base_sha" | tar -x -C "$src"
    fi
    CARGO_TARGET_DIR="$out/base-target" cargo build --release --locked --quiet \
        --manifest-path "$src/Cargo.toml" --bin workhours "$@"
    base_target=$out/base-target/release
    base_bin=$base_target/workhours
}
