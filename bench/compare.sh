#!/usr/bin/env bash
# compare.sh - nsplumb against the peer tools, interleaved in one run on the same N.
#
# Usage: sudo bash bench/compare.sh [N] [REPS]      (N default 200, max 250; REPS default 1)
#
# Per repetition:
#   1. ../shared/bench/attach-bench.sh N 1 with every peer tool (ip-batch, ip-batch-direct,
#      cni-bridge, netavark, netavark-internal) plus the nsplumb CLI as its `custom` tool
#      (one `nsplumb --backend linux attach ... --json` process per interface);
#   2. the in-process harness (target/release/nsplumb-bench: P1, P2, P4, NS, the throughput
#      scenarios P1B and P2B (N attaches issued concurrently through one Plumber, BATCH_LEVELS
#      in flight), and P6 at N = 10, 100, 1000 unless P6_IN_COMPARE=0) on the same N;
#   3. with P6, its floor: bench/p6-floor.sh (`ip -batch` of the same interfaces at each N).
# The CLI is the lean build (scripts/build-lean) unless LEAN=0.
# Then `nsplumb-bench report` prints the ratios (P1 vs ip-batch-direct / netavark-internal /
# cni-bridge, P2 vs ip-batch, P4 batch vs one by one, P6 growth vs the floor's), each P1/P2 ratio
# twice: from the one-at-a-time latency and from the concurrent throughput (wall time / N),
# since the ip-batch floors are throughput figures.
#
# Everything runs in namespaces created for the run: attach-bench uses its own private host
# namespace `abhost` + `abnsI`; the harness re-executes itself under `unshare -nm`. The CLI's
# state directory is a temporary directory. All of it is removed on exit, also on failure.
# Environment: OUTDIR (results), ATTACH_BENCH (path of attach-bench.sh), NO_BUILD=1,
#   TOOLS (attach-bench tool list), ANCHORS=0|1 (hyperfine exec anchors, default 1),
#   P6_IN_COMPARE=0|1 (default 1), P6_SIZES (default 10,100,1000),
#   BATCH_LEVELS (attaches in flight for P1B/P2B, 0 = all N; default 1,8,32,0),
#   HARNESS_WORKERS (tokio worker threads of the harness; default 0 = current-thread runtime).
set -Eeuo pipefail
export LC_ALL=C
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${1:-${N:-200}}; REPS=${2:-${REPS:-1}}
[[ $N =~ ^[0-9]+$ && $N -ge 2 && $N -le 250 ]] || die "N must be 2..250 (attach-bench's limit)"
ATTACH_BENCH=${ATTACH_BENCH:-$ROOT/../shared/bench/attach-bench.sh}
TOOLS=${TOOLS:-ip-batch,ip-batch-direct,cni-bridge,netavark,netavark-internal,custom}
OUTDIR=${OUTDIR:-$ROOT/bench/results/compare-N$N-$(date -u +%Y%m%d-%H%M%S)}

need_root
[[ -f $ATTACH_BENCH ]] || die "attach-bench.sh not found at $ATTACH_BENCH (set ATTACH_BENCH)"
ensure_packages netavark containernetworking-plugins hyperfine tcpdump iputils-arping iproute2
build_release
use_lean_binaries
log "CLI under test: $NSPLUMB"
[[ -x $NSPLUMB && -x $HARNESS ]] || die "missing $NSPLUMB or $HARNESS"
mkdir -p "$OUTDIR"; OUTDIR=$(readlink -f "$OUTDIR")

STATE=$(mktemp -d /run/nsplumb-compare.XXXXXX)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # attach-bench cleans its namespaces itself; make sure of it after a kill.
  bash "$ATTACH_BENCH" --cleanup >/dev/null 2>&1 || true
  rm -rf -- "$STATE"
  exit "$rc"
}
trap cleanup EXIT INT TERM

export NSPLUMB_STATE_DIR=$STATE/state
export CUSTOM_NAME=nsplumb-cli
export CUSTOM_ATTACH="$NSPLUMB --backend linux attach --netns {nspath} --veth-on-bridge {br} --name eth0 --mac {mac} --ipv4 {ip4}/24 --ipv6 {ip6}/64 --gateway {gw4} --gateway {gw6} --announce-count 0 --json"
export CUSTOM_DETACH="$NSPLUMB --backend linux detach --netns {nspath} --name eth0 --json"

echo "tool,N,rep,phase,index,usec" >"$OUTDIR/raw.csv"
harness_args=()
for ((rep = 1; rep <= REPS; rep++)); do
  settle
  log "rep $rep/$REPS: attach-bench.sh N=$N ($TOOLS)"
  OUT=$OUTDIR/attach-bench-rep$rep OBSERVE=${OBSERVE:-0} ANCHORS=${ANCHORS:-1} \
    bash "$ATTACH_BENCH" "$N" 1 "$TOOLS" >"$OUTDIR/attach-bench-rep$rep.log" 2>&1 \
    || { tail -20 "$OUTDIR/attach-bench-rep$rep.log" >&2; die "attach-bench failed (log: $OUTDIR/attach-bench-rep$rep.log)"; }
  awk -F, -v OFS=, -v r="$rep" 'NR > 1 { $3 = r; print }' "$OUTDIR/attach-bench-rep$rep/raw.csv" >>"$OUTDIR/raw.csv"
  settle
  scen=P1,P2,P4,P1B,P2B,NS; [[ ${P6_IN_COMPARE:-1} == 1 ]] && scen+=,P6
  log "rep $rep/$REPS: nsplumb-bench (in-process) N=$N $scen"
  "$HARNESS" --n "$N" --scenarios "$scen" --p6-sizes "${P6_SIZES:-10,100,1000}" \
    --batch-concurrency "${BATCH_LEVELS:-1,8,32,0}" --workers "${HARNESS_WORKERS:-0}" --out "$OUTDIR/harness-rep$rep.json" \
    >"$OUTDIR/harness-rep$rep.txt" 2>"$OUTDIR/harness-rep$rep.err" \
    || { cat "$OUTDIR/harness-rep$rep.err" >&2; die "nsplumb-bench failed"; }
  harness_args+=(--harness "$OUTDIR/harness-rep$rep.json")
  if [[ ${P6_IN_COMPARE:-1} == 1 ]]; then
    settle
    log "rep $rep/$REPS: the P6 floor (ip -batch) at N = ${P6_SIZES:-10,100,1000}"
    bash "$ROOT/bench/p6-floor.sh" "$OUTDIR/raw.csv" "${P6_SIZES:-10,100,1000}" 2>>"$OUTDIR/p6-floor.log" \
      || { tail -5 "$OUTDIR/p6-floor.log" >&2; die "p6-floor.sh failed"; }
  fi
done

"$HARNESS" report "${harness_args[@]}" --raw "$OUTDIR/raw.csv" --custom-name nsplumb-cli \
  ${EXTRA_REPORT_ARGS:-} >"$OUTDIR/compare.md"
{
  echo "## nsplumb compare: N=$N, REPS=$REPS, $(date -u +%FT%TZ)"
  echo
  cat "$OUTDIR/compare.md"
  echo
  echo "In-process figures (last repetition):"
  echo
  grep '^|' "$OUTDIR/harness-rep$REPS.txt" || true
} | tee "$OUTDIR/summary.md"
log "results in $OUTDIR"
