#!/usr/bin/env bash
# p6-floor.sh - the kernel's own growth for P6: what `ip -batch` pays per interface at each N,
# for the same interfaces the harness's P6 attaches (a veth born in the namespace with its MAC,
# on a bridge, up; an IPv4 /32 and an IPv6 /64 without DAD; no gateways), so nsplumb's growth
# from N=10 to N=1000 can be compared with the floor's on the same kernel in the same run.
#
# Usage: sudo bash bench/p6-floor.sh OUT.csv [SIZES]     (SIZES default 10,100,1000)
#
# Rows appended to OUT.csv in attach-bench's raw.csv format (tool,N,rep,phase,index,usec), one
# tool per scope and size, e.g. `p6-floor-across-N1000`:
#   attach-total   wall time of the host `ip -batch` (every veth) + the namespace batches;
#   noop-ns-total  the same processes with empty batches (`ip -batch /dev/null`, then
#                  `ip -n NS -batch /dev/null` per namespace), so that
#                  (attach-total - noop-ns-total) / N is the kernel's share per interface.
# Sizes up to 100 run 5 times (the report takes the median), larger ones once.
# across: interface i in namespace i (one namespace batch each); one: every interface in one
# namespace (one namespace batch). Runs in a throwaway `unshare -nm`; nothing outlives it.
set -Eeuo pipefail
export LC_ALL=C
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT=${1:?usage: p6-floor.sh OUT.csv [SIZES]}
SIZES=${2:-10,100,1000}
need_root

if [[ ${P6_FLOOR_INNER:-0} != 1 ]]; then
  OUT=$(readlink -f "$OUT")
  exec unshare -nm env P6_FLOOR_INNER=1 bash "${BASH_SOURCE[0]}" "$OUT" "$SIZES"
fi

mount -t tmpfs p6floor /run && mkdir -p /run/netns
ip link set lo up
ip link add br0 type bridge && ip link set br0 up
mac() { printf '02:00:5e:%02x:%02x:%02x' $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
ip4() { echo "192.0.2.$((2 + $1 % 250))/32"; }
ip6() { printf 'fd00:bec:6:%x::2/64' "$1"; }
us() { echo "${EPOCHREALTIME/./}"; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

run_scope() {  # scope N rep
  local scope=$1 n=$2 rep=$3 i t0 t1 t2 tool=p6-floor-$1-N$2
  local nss=1; [[ $scope == across ]] && nss=$n
  for ((i = 0; i < nss; i++)); do ip netns add "f$i"; done
  : >"$W/host"
  for ((i = 0; i < n; i++)); do
    local ns=f0 ifname=eth$i
    [[ $scope == across ]] && ns=f$i ifname=eth0
    echo "link add fh$i master br0 up type veth peer name $ifname address $(mac "$i") netns $ns" >>"$W/host"
    { echo "addr add $(ip4 "$i") dev $ifname"; echo "addr add $(ip6 "$i") dev $ifname nodad"; echo "link set $ifname up"; } >>"$W/ns-$ns"
  done
  t0=$(us)
  ip -batch "$W/host"
  for ((i = 0; i < nss; i++)); do ip -n "f$i" -batch "$W/ns-f$i"; done
  t1=$(us)
  ip -batch /dev/null
  for ((i = 0; i < nss; i++)); do ip -n "f$i" -batch /dev/null; done
  t2=$(us)
  echo "$tool,$n,$rep,attach-total,-1,$((t1 - t0))" >>"$OUT"
  echo "$tool,$n,$rep,noop-ns-total,-1,$((t2 - t1))" >>"$OUT"
  log "$tool: $(((t1 - t0) / n)) us/if with processes, $(((t1 - t0 - (t2 - t1)) / n)) us/if kernel"
  # Clean up before the next size: the host ends take their peers with them.
  { for ((i = 0; i < n; i++)); do echo "link del fh$i"; done; } >"$W/del"
  ip -batch "$W/del"
  for ((i = 0; i < nss; i++)); do ip netns del "f$i"; done
  rm -f "$W"/ns-*
  settle
}

IFS=, read -ra sizes <<<"$SIZES"
for n in "${sizes[@]}"; do
  reps=1; ((n <= 100)) && reps=5
  for ((r = 1; r <= reps; r++)); do
    run_scope across "$n" "$r"
    run_scope one "$n" "$r"
  done
done
