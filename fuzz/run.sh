#!/usr/bin/env bash
# Build and run fuzz targets (SPEC R3) with the stable toolchain: cargo-fuzz, libFuzzer,
# no sanitizer, debug assertions and overflow checks on.
#
#   fuzz/run.sh TARGET SECONDS [LIBFUZZER_ARG...]   one target, for at most SECONDS
#   fuzz/run.sh all SECONDS [LIBFUZZER_ARG...]      every target in turn, SECONDS each
#   fuzz/run.sh merge TARGET|all                     minimise corpus/TARGET with what runs found
#   fuzz/run.sh build                                build every target (what `all` runs)
#
# e.g. `fuzz/run.sh frames 3600 -runs=10000000` stops at 10 million runs or an hour.
# One libFuzzer job at a time. Inputs a run finds go to fuzz/work/TARGET (not committed);
# corpus/TARGET is read, never written, except by `merge`. A crash is written to
# fuzz/artifacts/TARGET/ and makes the script exit non-zero, after the other targets ran.
set -Eeuo pipefail
SELF=$(realpath "${BASH_SOURCE[0]}")
cd "$(dirname "$SELF")"

CARGO_FUZZ_VERSION=0.13.2
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN_DIR=target/$TRIPLE/release

usage() {
    sed -n '5,8p' "$SELF" | sed 's/^# *//' >&2
    exit 2
}

ensure_cargo_fuzz() {
    if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
        echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
        cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
    fi
}

build() {
    # The committed Cargo.lock must already hold every dependency: fail rather than re-resolve.
    cargo fetch --locked --quiet
    cargo fuzz build --sanitizer none --debug-assertions "$@"
}

targets() {
    cargo fuzz list
}

# run_one TARGET SECONDS [ARGS...]: prints one summary line; returns libFuzzer's status.
run_one() {
    local target=$1 seconds=$2
    shift 2
    local log dict=()
    mkdir -p "work/$target" "artifacts/$target" "corpus/$target"
    [[ -f dict/$target.dict ]] && dict=("-dict=dict/$target.dict")
    log=$(mktemp)
    local status=0
    RUST_BACKTRACE=1 "$BIN_DIR/$target" "work/$target" "corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" "${dict[@]}" "$@" >"$log" 2>&1 || status=$?
    local runs eps new
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    new=$(sed -n 's/^stat::new_units_added: *//p' "$log")
    local secs
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
    local files kib
    files=$(find "corpus/$target" "work/$target" -type f | wc -l)
    kib=$(du -sk --apparent-size "corpus/$target" | cut -f1)
    if [[ $status -ne 0 ]]; then
        echo "== $target: FAILED (libFuzzer exit $status) after ${runs:-?} runs; log follows"
        grep -v '^#[0-9]' "$log" | tail -60
        ls -1 "artifacts/$target" | sed "s|^|   artifact: fuzz/artifacts/$target/|"
    else
        echo "== $target: ${runs:-?} runs in ${secs:-?} s, ${eps:-?} exec/s," \
            "${new:-0} new inputs, $files inputs in corpus+work," \
            "committed corpus ${kib} KiB, 0 crashes"
    fi
    rm -f "$log"
    return "$status"
}

# merge_one TARGET: corpus/TARGET keeps its named seeds and regression inputs, plus the fewest
# inputs (named by their SHA-1, as libFuzzer names them) from earlier merges and from work/TARGET
# that reach code the named ones do not.
merge_one() {
    local target=$1 earlier
    earlier=$(mktemp -d)
    mkdir -p "work/$target" "corpus/$target"
    find "corpus/$target" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' \
        -exec mv -t "$earlier" {} +
    # A set cover of edges only (no hit-count buckets) keeps the corpus small; runs start from
    # it and find the finer features again within seconds.
    "$BIN_DIR/$target" -set_cover_merge=1 -use_counters=0 \
        "corpus/$target" "$earlier" "work/$target" >/dev/null 2>&1
    rm -rf "$earlier" "work/$target"
    echo "== $target: corpus now $(find "corpus/$target" -type f | wc -l) files," \
        "$(du -sk --apparent-size "corpus/$target" | cut -f1) KiB"
}

[[ $# -ge 1 ]] || usage
command -v c++ >/dev/null 2>&1 || { echo "fuzz/run.sh: libFuzzer needs a C++ compiler (apt-get install g++)" >&2; exit 2; }
ensure_cargo_fuzz

if [[ $1 == build && $# -eq 1 ]]; then
    build
    exit 0
fi
[[ $# -ge 2 ]] || usage

if [[ $1 == merge ]]; then
    build
    if [[ $2 == all ]]; then
        for t in $(targets); do merge_one "$t"; done
    else
        merge_one "$2"
    fi
    exit 0
fi

what=$1 seconds=$2
shift 2
[[ $seconds =~ ^[0-9]+$ ]] || usage
if [[ $what == all ]]; then
    build
    failed=()
    for t in $(targets); do
        run_one "$t" "$seconds" "$@" || failed+=("$t")
    done
    if [[ ${#failed[@]} -gt 0 ]]; then
        echo "== fuzz: crashes in ${failed[*]}"
        exit 1
    fi
    echo "== fuzz: every target ran ${seconds} s without a crash"
else
    # Not `grep -q`: it would stop reading, and `cargo fuzz list` fail on the closed pipe.
    targets | grep -x -- "$what" >/dev/null || { echo "no fuzz target $what; have: $(targets | xargs)" >&2; exit 2; }
    build "$what"
    run_one "$what" "$seconds" "$@"
fi
