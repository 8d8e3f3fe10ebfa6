//! `/proc/sys` of each namespace: reads, writes with their kernel effects, and the values
//! other kernel objects consult.

use super::Kernel;
use crate::namespace::NsId;
use crate::sysctl::{self, builtin, Overrides, Scope, SysPath, Table, Target};
use nsplumb_core::{Errno, IfIndex, NetnsRef};
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub(super) struct Keys {
    pub(super) disable_ipv6: u16,
    pub(super) accept_dad: u16,
    pub(super) dad_transmits: u16,
    pub(super) addr_gen_mode: u16,
    pub(super) keep_addr_on_down: u16,
    pub(super) accept_untracked_na: u16,
    pub(super) forwarding6: u16,
    pub(super) mtu6: u16,
    pub(super) forwarding4: u16,
    pub(super) accept_redirects4: u16,
    pub(super) arp_accept: u16,
    pub(super) promote_secondaries: u16,
    pub(super) locktime4: u16,
    pub(super) retrans_time_ms6: u16,
    pub(super) rtr_solicit_delay: u16,
}

pub(super) fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let c6 = |k| Table::Conf6.index_of(k).expect("known key");
        let c4 = |k| Table::Conf4.index_of(k).expect("known key");
        Keys {
            disable_ipv6: c6("disable_ipv6"),
            accept_dad: c6("accept_dad"),
            dad_transmits: c6("dad_transmits"),
            addr_gen_mode: c6("addr_gen_mode"),
            keep_addr_on_down: c6("keep_addr_on_down"),
            accept_untracked_na: c6("accept_untracked_na"),
            forwarding6: c6("forwarding"),
            mtu6: c6("mtu"),
            rtr_solicit_delay: c6("router_solicitation_delay"),
            forwarding4: c4("forwarding"),
            accept_redirects4: c4("accept_redirects"),
            arp_accept: c4("arp_accept"),
            promote_secondaries: c4("promote_secondaries"),
            locktime4: Table::Neigh4.index_of("locktime").expect("known key"),
            retrans_time_ms6: Table::Neigh6
                .index_of("retrans_time_ms")
                .expect("known key"),
        }
    })
}

impl Kernel {
    pub(super) fn link_val(&self, id: NsId, idx: IfIndex, table: Table, key: u16) -> i64 {
        let l = self.lk(id, idx);
        match l.sysctl.get(table, key) {
            Some(v) => v.parse().unwrap_or(0),
            None => sysctl::builtin_int(
                table,
                key,
                Scope::Link {
                    kind: &l.kind(),
                    mtu: l.mtu,
                },
            ),
        }
    }

    pub(super) fn all_val(&self, id: NsId, table: Table, key: u16) -> i64 {
        match self.ns(id).all.get(table, key) {
            Some(v) => v.parse().unwrap_or(0),
            None => sysctl::builtin_int(table, key, Scope::All),
        }
    }

    pub(crate) fn v6_disabled(&self, id: NsId, idx: IfIndex) -> bool {
        self.v6_absent(id, idx) // SPEC L1: no IPv6 below 1280
            || self.link_val(id, idx, Table::Conf6, keys().disable_ipv6) != 0
    }

    /// Sysctls a new or moved-in link starts with: the namespace's `default` values (but the
    /// IPv6 MTU, which follows the link).
    pub(crate) fn inherited(&self, id: NsId) -> Overrides {
        let mut o = self.ns(id).dflt.clone();
        if !o.is_empty() {
            o.0.retain(|(t, k, _)| !(*t == Table::Conf6 && *k == keys().mtu6));
        }
        o
    }

    fn sys_target(
        &self,
        id: NsId,
        table: Table,
        target: Target<'_>,
    ) -> Result<Option<IfIndex>, Errno> {
        match target {
            Target::All => Ok(None),
            Target::Default => {
                if sysctl::table_is_neigh(table) && !self.ns(id).netref.is_host() {
                    Err(Errno::ENOENT)
                } else {
                    Ok(None)
                }
            }
            Target::Dev(name) => {
                let idx = self.ns(id).names.get(name).copied().ok_or(Errno::ENOENT)?;
                // SPEC L1: below 1280 the link has no IPv6 device, so no IPv6 directory.
                if matches!(table, Table::Conf6 | Table::Neigh6) && self.v6_absent(id, idx) {
                    return Err(Errno::ENOENT);
                }
                Ok(Some(idx))
            }
        }
    }

    /// Reads `/proc/sys/PATH` in the namespace: ENOENT, EISDIR as the file system says.
    pub fn read_sysctl(&self, r: &NetnsRef, path: &str) -> Result<String, Errno> {
        let id = self.ns_id(r)?;
        let (table, target, key) = match sysctl::parse(path)? {
            SysPath::Dir => return Err(Errno::EISDIR),
            SysPath::TargetDir(t, tg) => {
                self.sys_target(id, t, tg)?;
                return Err(Errno::EISDIR);
            }
            SysPath::IpForward => (Table::Conf4, Target::All, Some(keys().forwarding4)),
            SysPath::DevconfInherit => return self.read_devconf_inherit(id),
            SysPath::Key(t, tg, k) => (t, tg, k),
        };
        let dev = self.sys_target(id, table, target)?;
        let key = key.ok_or(Errno::ENOENT)?;
        let ns = self.ns(id);
        Ok(match (target, dev) {
            (_, Some(i)) => {
                let l = self.lk(id, i);
                l.sysctl
                    .get(table, key)
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        builtin(
                            table,
                            key,
                            Scope::Link {
                                kind: &l.kind(),
                                mtu: l.mtu,
                            },
                        )
                        .into_owned()
                    })
            }
            (Target::All, _) => ns
                .all
                .get(table, key)
                .map(str::to_string)
                .unwrap_or_else(|| builtin(table, key, Scope::All).into_owned()),
            _ => ns
                .dflt
                .get(table, key)
                .map(str::to_string)
                .unwrap_or_else(|| builtin(table, key, Scope::Default).into_owned()),
        })
    }

    /// Writes `/proc/sys/PATH` with its kernel effect (`disable_ipv6`, `forwarding` on `all`).
    pub fn write_sysctl(&mut self, r: &NetnsRef, path: &str, value: &str) -> Result<(), Errno> {
        let id = self.ns_id(r)?;
        let (table, target, key) = match sysctl::parse(path)? {
            SysPath::Dir => return Err(Errno::EISDIR),
            SysPath::TargetDir(t, tg) => {
                self.sys_target(id, t, tg)?;
                return Err(Errno::EISDIR);
            }
            SysPath::IpForward => (Table::Conf4, Target::All, Some(keys().forwarding4)),
            SysPath::DevconfInherit => return self.write_devconf_inherit(id, value),
            SysPath::Key(t, tg, k) => (t, tg, k),
        };
        let dev = self.sys_target(id, table, target)?;
        let key = key.ok_or(Errno::ENOENT)?;
        if sysctl::is_read_only(table, key) {
            return Err(Errno::EACCES);
        }
        let mtu = dev.map(|i| self.lk(id, i).mtu);
        let v = sysctl::normalise(table, key, value, mtu)?;
        let k = keys();
        match dev {
            Some(i) => self.set_link_sysctl(id, i, table, key, v),
            None if target == Target::All => {
                let old = self.all_val(id, table, key);
                let b = builtin(table, key, Scope::All);
                self.nsm(id).all.set(table, key, v.clone(), &b);
                // `inet_forward_change` runs only when the value changes.
                let forwarding4 =
                    table == Table::Conf4 && key == k.forwarding4 && old.to_string() != v;
                if forwarding4 {
                    let redirects = if v == "0" { "1" } else { "0" };
                    let b = builtin(table, k.accept_redirects4, Scope::All);
                    let all = &mut self.nsm(id).all;
                    all.set(table, k.accept_redirects4, redirects.into(), &b);
                }
                let propagate = (table == Table::Conf6
                    && (key == k.disable_ipv6 || key == k.forwarding6))
                    || forwarding4;
                if propagate {
                    let b = builtin(table, key, Scope::Default);
                    self.nsm(id).dflt.set(table, key, v.clone(), &b);
                    let idxs: Vec<IfIndex> = self.ns(id).links.keys().copied().collect();
                    for i in idxs {
                        self.set_link_sysctl(id, i, table, key, v.clone());
                    }
                }
            }
            None => {
                let b = builtin(table, key, Scope::Default);
                self.nsm(id).dflt.set(table, key, v.clone(), &b);
                if sysctl::default_write_reaches_links(table, key) {
                    for l in self.nsm(id).links.values_mut() {
                        if l.conf4_written & (1 << key) == 0 {
                            let kind = l.kind();
                            let b = builtin(
                                table,
                                key,
                                Scope::Link {
                                    kind: &kind,
                                    mtu: l.mtu,
                                },
                            );
                            l.sysctl.set(table, key, v.clone(), &b);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn set_link_sysctl(&mut self, id: NsId, idx: IfIndex, table: Table, key: u16, v: String) {
        let was_disabled = self.v6_disabled(id, idx);
        let l = self.lk_mut(id, idx);
        let b = builtin(
            table,
            key,
            Scope::Link {
                kind: &l.kind(),
                mtu: l.mtu,
            },
        )
        .into_owned();
        l.sysctl.set(table, key, v, &b);
        if table == Table::Conf4 {
            l.conf4_written |= 1 << key;
        }
        if table == Table::Conf6 && key == keys().disable_ipv6 {
            let now_disabled = self.v6_disabled(id, idx);
            if now_disabled && !was_disabled {
                self.ipv6_ifdown(id, idx);
            } else if !now_disabled && was_disabled {
                self.v6_check_ready(id, idx);
            }
        }
    }

    pub(crate) fn link_sysctl_diffs(&self, id: NsId, idx: IfIndex) -> BTreeMap<String, String> {
        let l = self.lk(id, idx);
        l.sysctl
            .0
            .iter()
            .map(|(t, k, v)| {
                (
                    format!("{}/{}/{}", t.prefix(), l.name, t.keys()[*k as usize].0),
                    v.clone(),
                )
            })
            .collect()
    }
}
