#!/usr/bin/env bash
# soak.sh - attach/detach lifecycles on the real kernel (SPEC R1): N through one in-process
# Plumber<LinuxBackend>, then M through the nsplumb CLI (one process per command), across 4
# namespaces and the three ways in (veth on a bridge, host link moved in, link created in the
# namespace), announcements on (3 x 100 ms, cancelled by the detach). Prints the harness's open
# fds, threads and RSS at the start and the end, and exits non-zero on any leak: a link, an
# address or a namespace not as before, fds or threads grown, RSS grown by more than 16 MiB, a
# record or pending intent left in the CLI's state, an nsplumb process left running.
#
# Usage: sudo bash bench/soak.sh            full soak: 10,000 Plumber + 1,000 CLI lifecycles
#        sudo bash bench/soak.sh --check    CI: 500 Plumber + 100 CLI lifecycles
#        sudo bash bench/soak.sh --plumber N --cli M [--namespaces K]
# Runs in private network and mount namespaces (the harness re-executes itself under
# unshare -nm): nothing touches the machine's links. Long: run it under nice -n 19.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
args=()
while (($#)); do
  case $1 in
    --check) args+=(--plumber 500 --cli 100); shift ;;
    --plumber | --cli | --namespaces) args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
build_release
exec "$HARNESS" soak --nsplumb "$NSPLUMB" "${args[@]}"
