#!/usr/bin/env bash
# cni.sh - CNI plugins measured the way runtimes use them (tests/cni's cni-bench): one process
# per call, the same conflist (host-local IPAM, isGateway). Per plugin: ADD and DEL latency
# (median, p90), the time from a reused address's ADD start until the host's ping is answered
# (a keeper on the bridge, the host's entry still naming the previous MAC), and the wall time
# of `podman run --rm` (Podman 4.3, CNI backend). Figures only; a table on stdout.
#
# Usage: sudo bash bench/cni.sh [--n N] [--reuse-n M] [--podman-n P] [PLUGIN...]
#   PLUGIN: plugin binaries, each named as its conflist "type" (default: the workspace's
#   nsplumb-cni, then /usr/lib/cni/bridge; the last table compares each to the bridge plugin);
#   N ADD/DEL rounds (default 100), M reuse rounds (default 10; the bridge plugin needs 20-55 s
#   each), P podman runs (default N).
# Then bench/cni-floor.sh with the same N: host-local's ADD and DEL and one veth delete, the part
# of ADD+DEL that no plugin on this conflist can avoid.
# Runs in private network, mount and PID namespaces like the tests (tests/cni/README.md):
# nothing touches the machine's links, /etc/cni, /var/lib/cni or containers storage.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
args=()
plugins=()
while (($#)); do
  case $1 in
    --n | --reuse-n | --podman-n) args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) plugins+=(--plugin "$1"); shift ;;
  esac
done
if [[ ${NO_BUILD:-0} != 1 ]]; then
  log "building cni-bench and nsplumb-cni (release)"
  (cd "$ROOT" && cargo build --release -q -p nsplumb-cni-tests --bin cni-bench \
    && cargo build --release -q -p nsplumb-cni --bin nsplumb-cni) || die "build failed"
fi
if ((${#plugins[@]} == 0)); then
  use_lean_binaries
  log "plugin under test: $NSPLUMB_CNI"
  plugins=(--plugin "$NSPLUMB_CNI" --plugin /usr/lib/cni/bridge)
fi
"$ROOT/target/release/cni-bench" "${plugins[@]}" "${args[@]+"${args[@]}"}"
# The same run: what every plugin pays on this conflist (bench/cni-floor.sh).
rounds=100
for ((i = 0; i < ${#args[@]}; i += 2)); do [[ ${args[i]} == --n ]] && rounds=${args[i + 1]}; done
echo
bash "$ROOT/bench/cni-floor.sh" "$rounds"
