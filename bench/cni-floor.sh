#!/usr/bin/env bash
# cni-floor.sh - what any CNI plugin pays on cni.sh's conflist, whatever its own code: the
# host-local IPAM plugin's ADD and DEL (one process each, the same dataDir and range) and the
# kernel's delete of one veth pair (`ip link del` of the container end, one process). A plugin's
# ADD+DEL cannot take less than their sum, so "ADD+DEL N× faster than the bridge plugin" is
# possible only while the bridge plugin's ADD+DEL is more than N× this floor.
#
# Usage: sudo bash bench/cni-floor.sh [ROUNDS]   (default 40; a table on stdout)
# Runs in private network and mount namespaces (a tmpfs /run): nothing of the machine is touched.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
ROUNDS=${1:-40}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number, not '$ROUNDS'"
[[ -x /usr/lib/cni/host-local ]] || ensure_packages containernetworking-plugins

exec unshare -nm --propagation private bash -s "$ROUNDS" <<'INNER'
set -Eeuo pipefail
rounds=$1
mount -t tmpfs tmpfs /run && mkdir -p /run/netns
ip link set lo up
work=$(mktemp -d /run/cni-floor.XXXXXX)
mkdir -p "$work/data"
conf='{"cniVersion":"1.0.0","name":"floor","type":"bridge","bridge":"flbr0","isGateway":true,"ipam":{"type":"host-local","dataDir":"'$work'/data","ranges":[[{"subnet":"198.51.100.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}'
export CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni
now() { echo "${EPOCHREALTIME/./}"; }
: >"$work/samples"
# Every namespace made before the first round and deleted after the last: a namespace's
# teardown runs in a kernel worker afterwards (it takes the RTNL lock and waits for RCU), which
# would slow the next round's delete.
for ((i = 0; i < rounds; i++)); do ip netns add "fl$i"; done
for ((i = 0; i < rounds; i++)); do
  ip link add "flv$i" type veth peer name eth0 netns "fl$i"
  export CNI_CONTAINERID="floor$i" CNI_NETNS="/run/netns/fl$i"
  t0=$(now); CNI_COMMAND=ADD /usr/lib/cni/host-local <<<"$conf" >/dev/null
  t1=$(now); CNI_COMMAND=DEL /usr/lib/cni/host-local <<<"$conf" >/dev/null
  t2=$(now); ip -n "fl$i" link del eth0
  t3=$(now)
  echo "$((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $((t3 - t0))" >>"$work/samples"
done
for ((i = 0; i < rounds; i++)); do ip netns del "fl$i"; done
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000 }'; }
echo "| floor step (cni-floor.sh, $rounds rounds) | median ms |"
echo "|---|---:|"
echo "| host-local ADD | $(cut -d' ' -f1 "$work/samples" | median) |"
echo "| host-local DEL | $(cut -d' ' -f2 "$work/samples" | median) |"
echo "| veth pair deleted (\`ip link del\`, one process) | $(cut -d' ' -f3 "$work/samples" | median) |"
echo "| **sum, per round** | **$(cut -d' ' -f4 "$work/samples" | median)** |"
INNER
