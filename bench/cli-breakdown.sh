#!/usr/bin/env bash
# cli-breakdown.sh - where one CLI process's attach and detach spend their time (issue #15).
#
# Usage: sudo bash bench/cli-breakdown.sh [REPS]       (REPS default 5; NO_BUILD=1 to skip cargo;
#        NSPLUMB_BIN=path to measure another build, e.g. a copy of an earlier one)
#
# Everything runs inside `unshare -nm` (a throwaway network and mount namespace: bridge br0,
# namespaces c1..cREPS+1 under a private tmpfs /run, state directory there too), so nothing of
# the host is touched and all of it is gone when the script exits, also on failure.
#
# The attach is bench/compare.sh's CUSTOM_ATTACH (veth on a bridge, MAC, IPv4, IPv6, two
# gateways, announce off); the detach its CUSTOM_DETACH. Each is run REPS times:
#   * under `perf stat` (task-clock = CPU time of all threads, context switches, migrations,
#     page faults; instructions where the machine exposes them): load-independent;
#   * under `strace -f -ttt -T`: syscall counts (thread creations, setns, fsync, netlink
#     sendto/recvfrom, openat of the namespace file) and, as a secondary (load-dependent) figure,
#     the wall time of each phase:
#       exec+dyld     execve → Rust std init (the first poll of fds 0-2)
#       args          → the runtime's first epoll_create1 (std init, clap, logging setup)
#       runtime       → the command's first own syscall (backend open or state dir)
#       state         lock, state file reads/writes/renames, fsyncs
#       ns hops       namespace threads: clone → setns/sockets → hand-back; namespace file opens
#       netlink       request sent → its last answer read
#       other         what the command does in between (user code, task wake-ups)
#       exit          the last command syscall → the process has exited
# Medians over REPS are printed; strace slows every syscall, so the wall phases are inflated
# (compare them between builds, not with the perf figures).
set -Eeuo pipefail
export LC_ALL=C
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NSPLUMB=${NSPLUMB_BIN:-$NSPLUMB}

if [[ ${1:-} == --inner ]]; then
  shift
  REPS=$1 OUT=$2
  mount -t tmpfs none /run
  mkdir -p /run/netns
  ip link set lo up
  ip link add br0 type bridge
  ip addr add 192.0.2.1/24 dev br0
  ip -6 addr add fd00:1::1/64 dev br0 nodad
  ip link set br0 up
  export NSPLUMB_STATE_DIR=/run/nsplumb-breakdown
  attach() { # $1 = index
    echo "$NSPLUMB --backend linux attach --netns /run/netns/c$1 --veth-on-bridge br0 --name eth0" \
      "--mac 02:00:00:00:01:$(printf %02x "$1") --ipv4 192.0.2.$((10 + $1))/24 --ipv6 fd00:1::$((10 + $1))/64" \
      "--gateway 192.0.2.1 --gateway fd00:1::1 --announce-count 0 --json"
  }
  detach() { echo "$NSPLUMB --backend linux detach --netns /run/netns/c$1 --name eth0 --json"; }
  for ((i = 0; i <= REPS; i++)); do ip netns add "c$i"; done
  # Warm: page cache of the binary, the state directory, the bridge's first port.
  $(attach 0) >/dev/null
  $(detach 0) >/dev/null
  PERF_EVENTS=task-clock,context-switches,cpu-migrations,page-faults,instructions
  for ((i = 1; i <= REPS; i++)); do
    strace -f -ttt -T -o "$OUT/attach.$i.strace" $(attach "$i") >/dev/null
    strace -f -ttt -T -o "$OUT/detach.$i.strace" $(detach "$i") >/dev/null
    perf stat -x, -e "$PERF_EVENTS" -o "$OUT/attach.$i.perf" $(attach "$i") >/dev/null
    perf stat -x, -e "$PERF_EVENTS" -o "$OUT/detach.$i.perf" $(detach "$i") >/dev/null
  done
  exit 0
fi

REPS=${1:-5}
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 && $REPS -le 50 ]] || die "REPS must be 1..50"
need_root
ensure_packages strace linux-perf iproute2
if [[ ${NO_BUILD:-0} != 1 && -z ${NSPLUMB_BIN:-} ]]; then
  (cd "$ROOT" && cargo build --release -q -p nsplumb) || die "build failed"
fi
[[ -x $NSPLUMB ]] || die "missing $NSPLUMB"
OUT=$(mktemp -d /tmp/nsplumb-breakdown.XXXXXX)
trap 'rm -rf -- "$OUT"' EXIT INT TERM
export NSPLUMB_BIN=$NSPLUMB
unshare -nm bash "${BASH_SOURCE[0]}" --inner "$REPS" "$OUT"
python3 "$ROOT/bench/cli_breakdown.py" "$OUT" "$REPS"
