//! End-to-end tests of a CNI plugin driven as runtimes drive it: directly (environment +
//! stdin, one process per call), by Podman 4.3 with its CNI backend, and by containerd 1.6's
//! `ctr run --cni`. The plugin under test is the workspace's nsplumb-cni, or the binary that
//! `NSPLUMB_CNI_PLUGIN` names; Debian's reference `bridge` plugin runs beside it where its
//! by-design failures are cheap to measure (see README.md).
//!
//! Every test starts with `if !isolation::enter("its_name") { return; }`: its body then runs
//! in fresh network, mount and PID namespaces with private mounts for every path a runtime
//! writes ([`isolation`], [`private_mounts`]).

pub mod cgroups;
pub mod command;
pub mod conflist;
pub mod containerd;
pub mod env;
pub mod error;
pub mod host;
pub mod isolation;
pub mod netns;
pub mod nsplumb_state;
pub mod observe;
pub mod plugin;
pub mod podman;
pub mod private_mounts;
pub mod prober;
pub mod reuse;
pub mod rootfs;
pub mod stats;
