//! The machine's settings as a new namespace sees them, read from the kernel so that the
//! simulator can stand on the same machine ([`nsplumb_sim::HostSettings`], SPEC R2): on a
//! container host (`ip_forward=1`, any `devconf_inherit_init_net`) a kernel test's private host
//! and the namespaces it makes do not start with the compiled-in values, and neither may the
//! simulator's.
//!
//! Inside [`crate::privilege::enter`]'s child the private host was made from the parent's
//! namespace, normally the machine's initial one. When that one can be read (root), the
//! settings are the real ones: `devconf_inherit_init_net` and init_net's values. When it cannot
//! (an unprivileged run, or a parent that is itself in a container), a probe namespace made
//! now stands in for init_net under mode 1: exactly what namespaces made later get, as long as
//! the private host's own `all`/`default` values do not change meanwhile.

use crate::privilege::outer_netns;
use nsplumb_core::{BackendExt, BridgeOptions, NetBackend, NetnsAdmin, NetnsRef};
use nsplumb_sim::{devconf_paths, DevconfInherit, HostSettings};
use std::collections::BTreeMap;

/// `net.core.devconf_inherit_init_net`, below `/proc/sys`.
pub const KNOB: &str = "net/core/devconf_inherit_init_net";

/// Where [`read`] found what new namespaces copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The machine's initial namespace and its `devconf_inherit_init_net`.
    InitNet,
    /// A probe namespace made from the private host (init_net could not be read).
    Probe,
}

/// The simulator's host settings for this test's private host. `probe_name` names the probe
/// namespace when one is needed (made and deleted through `b`).
pub async fn read<B: NetBackend + NetnsAdmin>(b: &B, probe_name: &str) -> (HostSettings, Source) {
    let host = Some(read_values(b, &NetnsRef::Host).await);
    if let Some(outer) = outer_netns() {
        if let Ok(mode) = b.read_sysctl(&outer, KNOB).await {
            let mode = mode.trim().parse().unwrap_or(-1);
            let mode = DevconfInherit::from_value(mode)
                .unwrap_or_else(|_| panic!("{KNOB} reads {mode}, not 0..=3"));
            let settings = HostSettings {
                devconf_inherit: mode,
                init_net: read_values(b, &outer).await,
                host,
            };
            return (settings, Source::InitNet);
        }
    }
    let probe = b
        .create_netns(probe_name)
        .await
        .unwrap_or_else(|e| panic!("probe namespace {probe_name}: {e}"));
    let init_net = read_values(b, &probe).await;
    b.delete_netns(&probe)
        .await
        .unwrap_or_else(|e| panic!("delete probe namespace {probe_name}: {e}"));
    let settings = HostSettings {
        devconf_inherit: DevconfInherit::FromInitNet,
        init_net,
        host,
    };
    (settings, Source::Probe)
}

/// Every `conf/all` and `conf/default` value the simulator models that this kernel has.
pub async fn read_values<B: NetBackend>(b: &B, ns: &NetnsRef) -> Vec<(String, String)> {
    read_paths(b, ns, &devconf_paths())
        .await
        .into_iter()
        .collect()
}

/// The values of `paths` in `ns`; a path that cannot be read (ENOENT: a key this kernel
/// lacks) is left out.
pub async fn read_paths<B: NetBackend>(
    b: &B,
    ns: &NetnsRef,
    paths: &[String],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for path in paths {
        if let Ok(v) = b.read_sysctl(ns, path).await {
            out.insert(path.clone(), v.trim().to_string());
        }
    }
    out
}

/// What a namespace shows of its inheritance: `conf/all`, `conf/default`, and `lo`'s copy of
/// `default` (IPv4 and IPv6).
pub fn inheritance_paths() -> Vec<String> {
    let paths = devconf_paths();
    let lo: Vec<String> = paths
        .iter()
        .filter(|p| p.contains("/default/"))
        .map(|p| p.replace("/default/", "/lo/"))
        .collect();
    paths.into_iter().chain(lo).collect()
}

/// One line for logs: where the settings come from and the values that differ from the
/// compiled-in ones.
pub fn describe(s: &HostSettings, source: Source) -> String {
    let builtin = nsplumb_sim::Kernel::new(0);
    let differ = |values: &[(String, String)]| -> Vec<String> {
        values
            .iter()
            .filter(|(p, v)| builtin.read_sysctl(&NetnsRef::Host, p).ok().as_ref() != Some(v))
            .map(|(p, v)| format!("{}={v}", p.trim_start_matches("net/")))
            .collect()
    };
    let mode = match source {
        Source::InitNet => format!("{KNOB}={}", s.devconf_inherit.value()),
        Source::Probe => "init_net not readable, a probe namespace stands in for it".into(),
    };
    format!(
        "{mode}; init_net differs in {:?}; private host differs in {:?}",
        differ(&s.init_net),
        differ(s.host.as_deref().unwrap_or_default()),
    )
}

/// Whether this kernel was built with bridge VLAN filtering (`CONFIG_BRIDGE_VLAN_FILTERING`):
/// a probe bridge `name` in `ns`, read back through the backend (which says `None` for the
/// filtering state of a kernel without it), then deleted.
pub async fn kernel_has_bridge_vlan_filtering<B: NetBackend>(
    b: &B,
    ns: &NetnsRef,
    name: &str,
) -> bool {
    let index = b
        .create_bridge(ns, name, BridgeOptions::default())
        .await
        .unwrap_or_else(|e| panic!("probe bridge {name}: {e}"));
    let info = b.link_by_index(ns, index).await;
    b.delete_links(ns, &[index])
        .await
        .unwrap_or_else(|e| panic!("delete probe bridge {name}: {e}"));
    let info = info.unwrap_or_else(|e| panic!("read probe bridge {name}: {e}"));
    info.bridge
        .and_then(|bridge| bridge.vlan_filtering)
        .is_some()
}
