# Shared helpers of bench/*.sh (sourced).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NSPLUMB=$ROOT/target/release/nsplumb
HARNESS=$ROOT/target/release/nsplumb-bench
log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() { [[ $EUID -eq 0 ]] || die "must run as root (sudo bash $0)"; }

# Debian packages the peer tools and checks need; installed only when missing.
ensure_packages() {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; } \
      || die "cannot install ${missing[*]}"
  fi
}

# The CLI and the plugin as shipped (scripts/build-lean: static, LTO, stripped) for the figures
# that run one process per operation; LEAN=0 keeps target/release's. Sets NSPLUMB and
# NSPLUMB_CNI.
NSPLUMB_CNI=$ROOT/target/release/nsplumb-cni
use_lean_binaries() {
  [[ ${LEAN:-1} == 1 ]] || return 0
  local bins print=
  [[ ${NO_BUILD:-0} == 1 ]] && print=--print || log "building the lean binaries (scripts/build-lean)"
  bins=$(bash "$ROOT/scripts/build-lean" $print | tr '\n' ' ') || die "lean build failed"
  read -r NSPLUMB NSPLUMB_CNI <<<"$bins"
  [[ -x $NSPLUMB && -x $NSPLUMB_CNI ]] || die "missing lean binaries $NSPLUMB $NSPLUMB_CNI (run scripts/build-lean)"
}

build_release() {
  [[ ${NO_BUILD:-0} == 1 ]] && return 0
  log "building release binaries (nsplumb, nsplumb-bench)"
  (cd "$ROOT" && cargo build --release -q -p nsplumb -p nsplumb-bench) || die "build failed"
}

# Wait until the kernel has finished tearing down the namespaces of the previous step:
# `ip netns del` returns at once, the kernel's cleanup_net then unregisters the devices in the
# background holding RTNL, which would be charged to whatever runs next. Probe: creating a
# veth pair in a throwaway namespace (exec included) takes < SETTLE_MS (default 8) ms three times in a row.
settle() {
  local ok=0 t0 t1 i
  for ((i = 0; i < ${SETTLE_MAX:-60} * 4 && ok < 3; i++)); do
    t0=${EPOCHREALTIME/./}
    unshare -n ip link add nbsettle0 type veth peer name nbsettle1 2>/dev/null || true
    t1=${EPOCHREALTIME/./}
    if (((t1 - t0) / 1000 < ${SETTLE_MS:-8})); then ok=$((ok + 1)); else ok=0; sleep 0.25; fi
  done
  log "settled after $i probes (last $(((t1 - t0) / 1000)) ms)"
}
