#!/usr/bin/env bash
# move-phase.sh - why a namespace move costs 16 or 20 ms: `ip -batch` moves against
# nsplumb's `move_link` into namespaces it has not entered yet (cold) and has (warm).
#
# Usage: sudo bash bench/move-phase.sh [N] [ROUNDS]   (N moves per round, default 30)
# Runs in a private network + mount namespace (unshare -nm): nothing touches the host's links.
# The kernel's move (__dev_change_net_namespace) waits for an RCU barrier of 4-6 ticks; a
# thread hop into a fresh namespace right before the move shifts it by a tick. Figures only.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
if [[ ${MOVE_PHASE_INNER:-0} != 1 ]]; then
  build_release
  (cd "$ROOT" && cargo build --release -q -p nsplumb-bench --example move_only) || die "build failed"
  exec env MOVE_PHASE_INNER=1 unshare -nm bash "$0" "$@"
fi
N=${1:-30}
ROUNDS=${2:-3}
MOVE_ONLY=$ROOT/target/release/examples/move_only
mount -t tmpfs tmpfs /run/netns 2>/dev/null || mkdir -p /run/netns
ip link set lo up
setup() {
  ip link add mpbr type bridge && ip link set mpbr up
  for ((i = 0; i < N; i++)); do ip netns add mpx$i; done
  for ((i = 0; i < N; i++)); do echo "link add mpv$i master mpbr up type veth peer name mpc$i"; done | ip -batch -
}
cleanup() {
  ip link del mpbr 2>/dev/null || true
  for ((i = 0; i < N; i++)); do ip link del mpv$i 2>/dev/null || true; ip netns del mpx$i 2>/dev/null || true; done
}
trap cleanup EXIT
for ((r = 1; r <= ROUNDS; r++)); do
  setup
  t0=${EPOCHREALTIME/./}
  for ((i = 0; i < N; i++)); do echo "link set dev mpc$i netns mpx$i name eth0"; done | ip -batch -
  t1=${EPOCHREALTIME/./}
  printf 'round %d  ip -batch moves:                %6.2f ms per move\n' "$r" "$(awk -v d=$((t1 - t0)) -v n="$N" 'BEGIN { print d / n / 1000 }')"
  cleanup; setup
  printf 'round %d  nsplumb move_link, cold:        %s\n' "$r" "$(PREFIX=mp "$MOVE_ONLY" "$N")"
  cleanup; setup
  printf 'round %d  nsplumb move_link, prepared:    %s\n' "$r" "$(PREFIX=mp PREPARE=1 "$MOVE_ONLY" "$N")"
  cleanup
done
