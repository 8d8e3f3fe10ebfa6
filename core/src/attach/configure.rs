//! SPEC A4–A10: configure the link (MAC, addresses after the route-conflict check, the IPv6
//! switch, master, link-local addresses, sysctls, the vanished-IPv6 check), set it up and add
//! its routes. A4 opens with A11's subscription and one read of the link.

use super::{Attach, Wait, LINK_UP_RETRIES, LINK_UP_RETRY_DELAY, NS_EVENTS};
use crate::attached::Origin;
use crate::command::{Command, Reply};
use crate::error::StepError;
use crate::event::Phase;
use crate::request::Request;
use crate::types::{Family, RouteInfo, RouteScope, RouteSpec, Timestamp};
use crate::validate::is_unspecified_route;
use crate::{BackendError, Errno};
use ipnet::IpNet;

/// What the outstanding request of A4–A10 is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Configuring {
    /// A11's subscription, which opens A4.
    NsSubscribed,
    /// A11's one read of the link (also A6's `disable_ipv6`).
    LinkRead,
    MacSet,
    RoutesV4,
    Ipv4Added,
    DisableIpv6Read,
    DisableIpv6Written {
        old: String,
    },
    RoutesV6,
    Ipv6Added,
    MasterSet,
    LinkLocalAdded(usize),
    SysctlRead(usize),
    SysctlWritten(usize, String),
    AddressesChecked,
    Up,
    RouteAdded(usize),
}

impl Attach {
    /// Replies of A4–A10 (and of A11's subscription and read that open A4).
    pub(super) fn on_configure_reply(
        &mut self,
        now: Timestamp,
        step: Configuring,
        result: Result<Reply, BackendError>,
    ) {
        match (step, result) {
            // A11's subscription and read open A4.
            (Configuring::NsSubscribed, Ok(_)) => self.issue(
                Request::LinkByIndex {
                    netns: self.ns(),
                    index: self.index,
                },
                Configuring::LinkRead,
            ),
            (Configuring::LinkRead, Ok(Reply::Link(link))) => {
                self.link = Some(link);
                self.link_options(now);
            }
            (Configuring::NsSubscribed | Configuring::LinkRead, Err(e)) => {
                // A11's subscription and read open A4 (the read also serves A6).
                let ctx = format!(
                    "failed to watch interface {} (link events and state)",
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }

            // A4
            (Configuring::MacSet, Ok(_)) => self.ipv4(now),
            (Configuring::MacSet, Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} MAC to {:?}",
                    self.plan.name,
                    self.plan
                        .spec
                        .mac
                        .map(|m| m.to_string())
                        .unwrap_or_default()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Configuring::RoutesV4, Ok(Reply::Routes(routes))) => {
                let addr = IpNet::V4(self.plan.spec.ipv4.expect("ipv4 step needs an address"));
                if let Some(err) = route_conflict(&addr, &routes) {
                    return self.fail(now, err);
                }
                self.issue(
                    Request::AddAddress {
                        netns: self.ns(),
                        index: self.index,
                        net: addr,
                        nodad: false,
                    },
                    Configuring::Ipv4Added,
                );
            }
            (Configuring::Ipv4Added, Ok(_)) => {
                let net = IpNet::V4(self.plan.spec.ipv4.expect("added"));
                self.undo.record_in_namespace(Request::DelAddress {
                    netns: self.ns(),
                    index: self.index,
                    net,
                });
                self.ipv6_switch(now);
            }
            (Configuring::RoutesV4 | Configuring::Ipv4Added, Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} IP to {}",
                    self.plan.name,
                    self.plan
                        .spec
                        .ipv4
                        .map(|a| a.to_string())
                        .unwrap_or_default()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Configuring::DisableIpv6Read, Ok(Reply::Value(current))) => {
                self.disable_ipv6_known(now, current)
            }
            (Configuring::DisableIpv6Read, Err(e)) if e.is(Errno::ENOENT) => {
                // IPv6 is off in the kernel: fine when disabling, worth a word when enabling.
                if self.ipv6.is_some() {
                    self.warn(
                        now,
                        format!("cannot enable IPv6 on interface {}: {e}", self.plan.name),
                    );
                }
                self.ipv6_addr(now);
            }
            (Configuring::DisableIpv6Read, Err(e)) => {
                let ctx = format!("failed to configure ipv6 on interface {}", self.plan.name);
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Configuring::DisableIpv6Written { old }, Ok(_)) => {
                self.undo.record_in_namespace(Request::WriteSysctl {
                    netns: self.ns(),
                    path: self.disable_ipv6_path(),
                    value: old,
                });
                self.ipv6_addr(now);
            }
            (Configuring::DisableIpv6Written { .. }, Err(e)) => {
                let verb = if self.ipv6.is_some() {
                    "enable"
                } else {
                    "disable"
                };
                let ctx = format!("failed to {verb} IPv6 on interface {}", self.plan.name);
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Configuring::RoutesV6, Ok(Reply::Routes(routes))) => {
                let addr = IpNet::V6(self.ipv6.expect("ipv6 step needs an address"));
                if let Some(err) = route_conflict(&addr, &routes) {
                    return self.fail(now, err);
                }
                if self.dad_pending() {
                    // L5: added without NODAD once the port forwards (after A12).
                    return self.master(now);
                }
                self.issue(
                    Request::AddAddress {
                        netns: self.ns(),
                        index: self.index,
                        net: addr,
                        nodad: true,
                    },
                    Configuring::Ipv6Added,
                );
            }
            (Configuring::Ipv6Added, Ok(_)) => {
                let net = IpNet::V6(self.ipv6.expect("added"));
                self.undo.record_in_namespace(Request::DelAddress {
                    netns: self.ns(),
                    index: self.index,
                    net,
                });
                self.master(now);
            }
            (Configuring::RoutesV6 | Configuring::Ipv6Added, Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} IPv6 to {}",
                    self.plan.name,
                    self.ipv6.map(|a| a.to_string()).unwrap_or_default()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Configuring::MasterSet, Ok(_)) => {
                self.undo.record_in_namespace(Request::SetMaster {
                    netns: self.ns(),
                    index: self.index,
                    master: None,
                });
                self.link_local(now, 0);
            }
            (Configuring::MasterSet, Err(e)) => {
                let master = self
                    .plan
                    .master
                    .as_ref()
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                let ctx = format!(
                    "error setting interface {:?} master to {master:?}",
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Configuring::LinkLocalAdded(i), Ok(_)) => {
                self.undo.record_in_namespace(Request::DelAddress {
                    netns: self.ns(),
                    index: self.index,
                    net: self.plan.spec.link_local[i],
                });
                self.link_local(now, i + 1);
            }
            (Configuring::LinkLocalAdded(i), Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} link local IPs to {}",
                    self.plan.name, self.plan.spec.link_local[i]
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Configuring::SysctlRead(i), Ok(Reply::Value(current))) => {
                let setting = &self.plan.spec.sysctls[i];
                if current.trim() == setting.value {
                    return self.sysctl(now, i + 1);
                }
                self.issue(
                    Request::WriteSysctl {
                        netns: self.ns(),
                        path: setting.path_for(&self.plan.name),
                        value: setting.value.clone(),
                    },
                    Configuring::SysctlWritten(i, current),
                );
            }
            (Configuring::SysctlRead(i), Err(e)) => {
                let path = format!(
                    "/proc/sys/{}",
                    self.plan.spec.sysctls[i].path_for(&self.plan.name)
                );
                let err = if e.is(Errno::ENOENT) || e.is(Errno::EISDIR) || e.is(Errno::ENOTDIR) {
                    StepError::new(format!("{path} is not a sysctl file"), None)
                } else {
                    StepError::new(format!("unable to read '{path}'"), Some(e))
                };
                self.fail(now, err)
            }
            (Configuring::SysctlWritten(i, old), Ok(_)) => {
                self.undo.record_in_namespace(Request::WriteSysctl {
                    netns: self.ns(),
                    path: self.plan.spec.sysctls[i].path_for(&self.plan.name),
                    value: old,
                });
                self.sysctl(now, i + 1);
            }
            (Configuring::SysctlWritten(i, _), Err(e)) => {
                let path = format!(
                    "/proc/sys/{}",
                    self.plan.spec.sysctls[i].path_for(&self.plan.name)
                );
                self.fail(
                    now,
                    StepError::new(format!("unable to write to '{path}'"), Some(e)),
                )
            }
            (Configuring::AddressesChecked, Ok(Reply::Addresses(addrs))) => {
                let has_v6 = addrs
                    .iter()
                    .any(|a| a.index == self.index && matches!(a.net, IpNet::V6(_)));
                if !has_v6 {
                    // A8: the sysctls took IPv6 away; report no address and send no NA.
                    self.drop_ipv6(now);
                }
                self.set_up(now);
            }
            (Configuring::AddressesChecked, Err(e)) => self.fail(
                now,
                StepError::new(
                    format!(
                        "failed to check IPv6 addresses of interface {:?}",
                        self.plan.name
                    ),
                    Some(e),
                ),
            ),

            // A9
            (Configuring::Up, Ok(_)) => {
                self.undo.record_in_namespace(Request::SetLinkDown {
                    netns: self.ns(),
                    index: self.index,
                });
                self.add_routes(now, 0);
            }
            (Configuring::Up, Err(e)) => {
                self.up_failures += 1;
                if self.up_failures > LINK_UP_RETRIES {
                    let ctx = format!("failed to set link up (interface {:?})", self.plan.name);
                    return self.fail(now, StepError::new(ctx, Some(e)));
                }
                tracing::debug!(iface = %self.plan.name, "retrying link up after {e}");
                self.wait = Some(Wait::UpRetry(now + LINK_UP_RETRY_DELAY));
            }

            // A10
            (Configuring::RouteAdded(i), Ok(_)) => {
                let route = self.route_spec(self.plan.spec.routes[i]);
                self.undo.record_in_namespace(Request::DelRoute {
                    netns: self.ns(),
                    route,
                });
                self.add_routes(now, i + 1);
            }
            (Configuring::RouteAdded(_), Err(e)) => {
                let list: Vec<String> = self
                    .plan
                    .spec
                    .routes
                    .iter()
                    .map(|r| r.to_string())
                    .collect();
                let ctx = format!(
                    "error setting interface {:?} routes to [{}]",
                    self.plan.name,
                    list.join(" ")
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (step, Ok(reply)) => self.unexpected(now, &step, reply),
        }
    }

    /// A4 starts with A11's subscription and its one read: the read also carries A6's
    /// `disable_ipv6`, and "up" later comes from the notification of A9's own request, so the
    /// attach makes no read of its own for either (subscribe first: no lost event).
    pub(super) fn configure(&mut self, now: Timestamp) {
        self.obtained = true;
        self.phase(now, Phase::Configuring);
        self.issue(
            Command::Subscribe {
                id: NS_EVENTS,
                netns: self.ns(),
            },
            Configuring::NsSubscribed,
        );
    }

    /// A4 after the link options: MAC, addresses, and on.
    pub(super) fn configure_link(&mut self, now: Timestamp) {
        let mac_at_creation = matches!(self.origin, Origin::NewVeth { .. });
        match self.plan.spec.mac {
            Some(mac) if !mac_at_creation => {
                if let Some(orig) = self.original.as_ref().and_then(|l| l.mac) {
                    if orig != mac {
                        self.undo.record(Request::SetMac {
                            netns: self.ns(),
                            index: self.index,
                            mac: orig,
                        });
                    }
                }
                self.issue(
                    Request::SetMac {
                        netns: self.ns(),
                        index: self.index,
                        mac,
                    },
                    Configuring::MacSet,
                );
            }
            _ => self.ipv4(now),
        }
    }

    fn ipv4(&mut self, now: Timestamp) {
        if self.plan.spec.ipv4.is_some() {
            self.issue(
                Request::ListRoutes {
                    netns: self.ns(),
                    family: Family::V4,
                },
                Configuring::RoutesV4,
            );
        } else {
            self.ipv6_switch(now);
        }
    }

    fn disable_ipv6_path(&self) -> String {
        format!("net/ipv6/conf/{}/disable_ipv6", self.plan.name)
    }

    /// A6: IPv6 on if and only if there is an IPv6 address.
    fn disable_ipv6_value(&self) -> &'static str {
        if self.ipv6.is_some() {
            "0"
        } else {
            "1"
        }
    }

    fn ipv6_switch(&mut self, now: Timestamp) {
        if let Some(disabled) = self.link.as_ref().and_then(|l| l.ipv6_disabled) {
            let current = if disabled { "1" } else { "0" };
            return self.disable_ipv6_known(now, current.to_string());
        }
        self.issue(
            Request::ReadSysctl {
                netns: self.ns(),
                path: self.disable_ipv6_path(),
            },
            Configuring::DisableIpv6Read,
        );
    }

    /// A6 once the current value is known: write only if different.
    fn disable_ipv6_known(&mut self, now: Timestamp, current: String) {
        let want = self.disable_ipv6_value();
        if current.trim() == want {
            self.ipv6_addr(now);
        } else {
            self.issue(
                Request::WriteSysctl {
                    netns: self.ns(),
                    path: self.disable_ipv6_path(),
                    value: want.into(),
                },
                Configuring::DisableIpv6Written { old: current },
            );
        }
    }

    fn ipv6_addr(&mut self, now: Timestamp) {
        if self.ipv6.is_some() {
            self.issue(
                Request::ListRoutes {
                    netns: self.ns(),
                    family: Family::V6,
                },
                Configuring::RoutesV6,
            );
        } else {
            self.master(now);
        }
    }

    pub(super) fn master(&mut self, now: Timestamp) {
        match &self.plan.master {
            Some(m) => self.issue(
                Request::SetMaster {
                    netns: self.ns(),
                    index: self.index,
                    master: Some(m.index),
                },
                Configuring::MasterSet,
            ),
            None => self.link_local(now, 0),
        }
    }

    fn link_local(&mut self, now: Timestamp, i: usize) {
        match self.plan.spec.link_local.get(i) {
            Some(net) => self.issue(
                Request::AddAddress {
                    netns: self.ns(),
                    index: self.index,
                    net: *net,
                    nodad: false,
                },
                Configuring::LinkLocalAdded(i),
            ),
            None => self.sysctl(now, 0),
        }
    }

    fn sysctl(&mut self, now: Timestamp, i: usize) {
        match self.plan.spec.sysctls.get(i) {
            Some(setting) => {
                let path = setting.path_for(&self.plan.name);
                self.issue(
                    Request::ReadSysctl {
                        netns: self.ns(),
                        path,
                    },
                    Configuring::SysctlRead(i),
                )
            }
            // L5's sysctls come after the caller's: DAD asked for is DAD done.
            None if self.dad_pending() => self.dad_sysctl(now, 0),
            None => self.check_ipv6(now),
        }
    }

    /// A8.
    pub(super) fn check_ipv6(&mut self, now: Timestamp) {
        if self.ipv6.is_some() && !self.plan.spec.sysctls.is_empty() {
            if self.dad_pending() {
                return self.check_ipv6_before_dad();
            }
            self.issue(
                Request::ListAddresses {
                    netns: self.ns(),
                    index: Some(self.index),
                },
                Configuring::AddressesChecked,
            );
        } else {
            self.set_up(now);
        }
    }

    /// A9: set the link up (retried, see [`LINK_UP_RETRIES`]).
    pub(super) fn set_up(&mut self, now: Timestamp) {
        if self.up_failures == 0 {
            self.phase(now, Phase::SettingUp);
        }
        self.issue(
            Request::SetLinkUp {
                netns: self.ns(),
                index: self.index,
            },
            Configuring::Up,
        );
    }

    fn route_spec(&self, dst: IpNet) -> RouteSpec {
        RouteSpec {
            dst,
            gateway: None,
            oif: self.index,
            scope: RouteScope::Link,
        }
    }

    fn add_routes(&mut self, now: Timestamp, from: usize) {
        if from == 0 && !self.plan.spec.routes.is_empty() {
            self.phase(now, Phase::AddingRoutes);
        }
        let next = (from..self.plan.spec.routes.len())
            .find(|&i| !is_unspecified_route(&self.plan.spec.routes[i]));
        match next {
            Some(i) => {
                let route = self.route_spec(self.plan.spec.routes[i]);
                self.issue(
                    Request::AddRoute {
                        netns: self.ns(),
                        route,
                    },
                    Configuring::RouteAdded(i),
                );
            }
            None => self.wait_link(now),
        }
    }
}

/// A5: the first route of the same family, with a specified destination, that contains the
/// address or lies inside the address's network.
fn route_conflict(addr: &IpNet, routes: &[RouteInfo]) -> Option<StepError> {
    let conflict = routes.iter().find(|r| {
        Family::of(&r.dst) == Family::of(addr)
            && !is_unspecified_route(&r.dst)
            && (r.dst.contains(&addr.addr()) || addr.contains(&r.dst.addr()))
    })?;
    Some(StepError::new(
        format!(
            "cannot program address {addr} in sandbox interface because it conflicts with existing route {conflict}"
        ),
        None,
    ))
}
