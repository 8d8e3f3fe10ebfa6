//! The machine under the simulated host: `net.core.devconf_inherit_init_net` and the initial
//! namespace's `conf/all` and `conf/default` values, which decide what a new namespace starts
//! with (SPEC R2: a container host has `ip_forward=1`, and new namespaces may copy it).
//!
//! Linux 6.18, measured with init_net at `ip_forward=1` and IPv6 `all`/`default` values changed;
//! P a namespace made from init_net (`unshare -n`), then changed; Q made from P (`unshare -n`
//! and `ip netns add` agree):
//!
//! | mode | P: IPv4 / IPv6          | Q: IPv4 / IPv6                |
//! |------|-------------------------|-------------------------------|
//! | 0    | init_net / compiled-in  | init_net / compiled-in        |
//! | 1    | init_net / init_net     | init_net / init_net           |
//! | 2    | compiled-in             | compiled-in                   |
//! | 3    | init_net / init_net     | P as changed / P as changed   |
//!
//! `conf/all` is copied whole (so `ip_forward=1` comes with `all/accept_redirects=0`), and the new
//! namespace's `lo` copies its `default` (`lo/forwarding=1` under mode 0 on such a host).

use crate::kernel::Kernel;
use crate::namespace::{inherit, Devconf};
use crate::sysctl::{self, builtin, DevconfInherit, Scope, SysPath, Table, Target};
use nsplumb_core::{Errno, NetnsRef};
use std::fmt;

/// The machine a simulated kernel stands on, as a new namespace sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// `net.core.devconf_inherit_init_net`.
    pub devconf_inherit: DevconfInherit,
    /// The initial namespace's values as `(path below /proc/sys, value)`: `net/ipv4/ip_forward`
    /// and `net/ipv{4,6}/conf/{all,default}/KEY` (see [`crate::devconf_paths`]); a path not
    /// given keeps its built-in value.
    pub init_net: Vec<(String, String)>,
    /// `None`: the simulated host *is* the initial namespace. `Some(values)`: the host is a
    /// namespace created from it (as a kernel test's private host is): it starts with what the
    /// mode gives it, then takes these values (same paths as `init_net`).
    pub host: Option<Vec<(String, String)>>,
}

/// A host setting the simulator cannot take: the path, the value and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSettingsError {
    pub path: String,
    pub value: String,
    pub errno: Errno,
}

impl fmt::Display for HostSettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host setting {}={:?} not taken by the simulator: {}",
            self.path, self.value, self.errno
        )
    }
}

impl std::error::Error for HostSettingsError {}

impl Kernel {
    /// Puts the simulated host on the machine `settings` describes. Only on a fresh kernel:
    /// once another namespace or a host link besides `lo` exists, EBUSY (path `""`) and
    /// nothing changes; a bad path or value: its error, and nothing changes.
    pub fn set_host(&mut self, settings: &HostSettings) -> Result<(), HostSettingsError> {
        let host = self
            .ns_id(&NetnsRef::Host)
            .expect("the host namespace exists");
        if self.ns_refs().count() != 1 || self.ns(host).links.len() != 1 {
            return Err(HostSettingsError {
                path: String::new(),
                value: String::new(),
                errno: Errno::EBUSY,
            });
        }
        let init_net = with_values(Devconf::default(), &settings.init_net)?;
        let (host_conf, outer) = match &settings.host {
            None => (init_net, None),
            Some(values) => {
                let created = inherit(settings.devconf_inherit, &init_net, &init_net);
                (with_values(created, values)?, Some(init_net))
            }
        };
        self.devconf_inherit = settings.devconf_inherit;
        self.outer_init_net = outer;
        let ns = self
            .namespaces
            .get_mut(&host)
            .expect("the host namespace exists");
        ns.all = host_conf.all;
        ns.dflt = host_conf.dflt;
        // `lo` was registered after the namespace's devconf was set: it copies `default`.
        let lo = self.inherited(host);
        let ns = self
            .namespaces
            .get_mut(&host)
            .expect("the host namespace exists");
        if let Some(l) = ns.links.get_mut(&1) {
            l.sysctl = lo;
            l.conf4_written = 0;
        }
        Ok(())
    }

    /// What a namespace created now (by the host) starts with.
    pub(crate) fn devconf_for_new_namespace(&self) -> Devconf {
        let host = self
            .ns_id(&NetnsRef::Host)
            .expect("the host namespace exists");
        let creator = Devconf::of(self.ns(host));
        let init_net = self.outer_init_net.as_ref().unwrap_or(&creator);
        inherit(self.devconf_inherit, init_net, &creator)
    }

    /// `net/core/devconf_inherit_init_net` lives only in the initial namespace.
    fn is_init_net(&self, id: crate::namespace::NsId) -> bool {
        self.outer_init_net.is_none() && self.ns(id).netref.is_host()
    }

    pub(crate) fn read_devconf_inherit(&self, id: crate::namespace::NsId) -> Result<String, Errno> {
        if !self.is_init_net(id) {
            return Err(Errno::ENOENT);
        }
        Ok(self.devconf_inherit.value().to_string())
    }

    pub(crate) fn write_devconf_inherit(
        &mut self,
        id: crate::namespace::NsId,
        value: &str,
    ) -> Result<(), Errno> {
        if !self.is_init_net(id) {
            return Err(Errno::ENOENT);
        }
        self.devconf_inherit = DevconfInherit::from_value(sysctl::parse_int(value)?)?;
        Ok(())
    }
}

/// `base` with each `(path, value)` stored as given (no write side effects: these are values
/// read from a kernel, already consistent with each other).
fn with_values(mut d: Devconf, values: &[(String, String)]) -> Result<Devconf, HostSettingsError> {
    for (path, value) in values {
        let err = |errno| HostSettingsError {
            path: path.clone(),
            value: value.clone(),
            errno,
        };
        let (table, target, key) = match sysctl::parse(path).map_err(err)? {
            SysPath::IpForward => (
                Table::Conf4,
                Target::All,
                Table::Conf4.index_of("forwarding"),
            ),
            SysPath::Key(
                t @ (Table::Conf4 | Table::Conf6),
                tg @ (Target::All | Target::Default),
                k,
            ) => (t, tg, k),
            _ => return Err(err(Errno::EINVAL)),
        };
        let key = key.ok_or_else(|| err(Errno::ENOENT))?;
        let v = sysctl::normalise(table, key, value, None).map_err(err)?;
        let (overrides, scope) = match target {
            Target::All => (&mut d.all, Scope::All),
            _ => (&mut d.dflt, Scope::Default),
        };
        overrides.set(table, key, v, &builtin(table, key, scope));
    }
    Ok(d)
}
