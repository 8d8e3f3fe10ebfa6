#!/usr/bin/env bash
# run-all.sh - every nsplumb benchmark, one report.
#
# Usage: sudo bash bench/run-all.sh [N]     (N default 200: interfaces for P1, P2, P4 and the
#                                            peer comparison; P6 uses 10, 100, 1000)
#   P1, P2, P4  bench/compare.sh N (attach-bench.sh peer tools + nsplumb CLI + in-process harness,
#               one-at-a-time latency and concurrent throughput P1B/P2B; BATCH_LEVELS, HARNESS_WORKERS)
#   P5, P6      target/release/nsplumb-bench --scenarios P5,P6
#   P3          cargo bench -p nsplumb-kernel-tests --bench first_arp   (tests/kernel/benches)
#   P5 (ref)    cargo bench -p nsplumb-tests --bench lifecycle          (tests/benches)
#   P7          cargo bench -p nsplumb --bench frame                    (tui/benches)
# Writes bench/results/run-<date>/summary.md (and prints it). Figures only, nothing asserted.
# Environment: NO_BUILD=1 (use existing binaries), SKIP="P3,P7,..." to leave parts out,
#   P6_SIZES (default 10,100,1000), REPS (compare.sh repetitions, default 1).
set -Eeuo pipefail
export LC_ALL=C
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${1:-${N:-200}}
SKIP=,${SKIP:-},
RUN_DIR=${RUN_DIR:-$ROOT/bench/results/run-$(date -u +%Y%m%d-%H%M%S)}
need_root
mkdir -p "$RUN_DIR"; RUN_DIR=$(readlink -f "$RUN_DIR")
skip() { [[ $SKIP == *,$1,* ]]; }
t_start=$SECONDS

build_release
if [[ ${NO_BUILD:-0} != 1 ]]; then
  log "building the other benches (cargo bench --no-run)"
  (cd "$ROOT" && cargo bench -q --no-run -p nsplumb-kernel-tests --bench first_arp \
     && cargo bench -q --no-run -p nsplumb --bench frame \
     && cargo bench -q --no-run -p nsplumb-tests --bench lifecycle) >"$RUN_DIR/build.log" 2>&1 \
    || log "some bench targets did not build (see $RUN_DIR/build.log); their figures will be missing"
fi

t_measure=$SECONDS
texts=()
other_bench() {  # id package bench [env...]
  local id=$1 pkg=$2 bench=$3; shift 3
  skip "$id" && return 0
  settle
  log "$id: cargo bench -p $pkg --bench $bench"
  if (cd "$ROOT" && env "$@" cargo bench -q -p "$pkg" --bench "$bench") >"$RUN_DIR/$id.txt" 2>"$RUN_DIR/$id.err"; then
    grep -E 'P3 first ARP|P5 sim lifecycles|tui frame time|target' "$RUN_DIR/$id.txt" | sed "s/^/  [$id] /" >&2 || true
  else
    log "$id bench failed (see $RUN_DIR/$id.err)"
  fi
  texts+=(--text "$RUN_DIR/$id.txt")
}

if ! skip P1; then
  OUTDIR=$RUN_DIR/compare NO_BUILD=1 P6_IN_COMPARE=0 bash "$ROOT/bench/compare.sh" "$N" "${REPS:-1}" >/dev/null
fi
if ! skip P6 || ! skip P5; then
  sc=(); skip P5 || sc+=(P5); skip P6 || sc+=(P6)
  settle
  log "nsplumb-bench ${sc[*]} (P6 sizes ${P6_SIZES:-10,100,1000})"
  "$HARNESS" --n "$N" --scenarios "$(IFS=,; echo "${sc[*]}")" --p6-sizes "${P6_SIZES:-10,100,1000}" \
    --out "$RUN_DIR/p5p6.json" >"$RUN_DIR/p5p6.txt" 2>"$RUN_DIR/p5p6.err" \
    || { cat "$RUN_DIR/p5p6.err" >&2; die "nsplumb-bench P5/P6 failed"; }
fi
other_bench P3 nsplumb-kernel-tests first_arp FIRST_ARP_N="${FIRST_ARP_N:-50}"
other_bench P7 nsplumb frame
other_bench P5ref nsplumb-tests lifecycle P5_SECS="${P5_SECS:-2}"

args=()
[[ -f $RUN_DIR/compare/raw.csv ]] && args+=(--raw "$RUN_DIR/compare/raw.csv")
for f in "$RUN_DIR"/compare/harness-rep*.json "$RUN_DIR/p5p6.json"; do [[ -f $f ]] && args+=(--harness "$f"); done
{
  echo "## nsplumb benchmarks: $(date -u +%FT%TZ)"
  echo
  echo "machine: $(nproc) CPUs, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: sudo bash bench/run-all.sh $N; run time $((SECONDS - t_start)) s (of which measuring $((SECONDS - t_measure)) s, the rest building)"
  echo
  "$HARNESS" report "${args[@]}" "${texts[@]}" --custom-name nsplumb-cli
  echo
  echo "### In-process figures (nsplumb-bench), ms per interface"
  echo
  for f in "$RUN_DIR"/compare/harness-rep*.txt "$RUN_DIR/p5p6.txt"; do [[ -f $f ]] && grep '^| [PN][0-9S]' "$f"; done \
    | awk 'BEGIN { print "| id | figure | samples | median | p90 | mean | min | max |"; print "|---|---|---|---|---|---|---|---|" } { print }'
  echo
  echo "### Profiles (backend calls per interface, from the timing layer)"
  echo
  echo '```'
  for f in "$RUN_DIR"/compare/harness-rep*.txt "$RUN_DIR/p5p6.txt"; do [[ -f $f ]] && sed -n '/^profile /,/^$/p' "$f"; done
  echo '```'
  for t in P3 P7 P5ref; do
    [[ -s $RUN_DIR/$t.txt ]] || continue
    echo; echo "### $t bench output"; echo; echo '```'; cat "$RUN_DIR/$t.txt"; echo '```'
  done
} | tee "$RUN_DIR/summary.md"
log "done in $((SECONDS - t_start)) s; results in $RUN_DIR"
