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

build_release() {
  [[ ${NO_BUILD:-0} == 1 ]] && return 0
  log "building release binaries (nsplumb, nsplumb-bench)"
  (cd "$ROOT" && cargo build --release -q -p nsplumb -p nsplumb-bench) || die "build failed"
}
