//! SPEC A2–A3: obtain the link (create it, find it, or move it in from the host and rename
//! it in the same message), then set it down and give it its name.

use super::{Attach, KnownBridge};
use crate::attached::Origin;
use crate::command::Reply;
use crate::error::StepError;
use crate::event::Phase;
use crate::request::{Request, VethRequest};
use crate::types::{BridgeOptions, Family, LinkKind, NetnsRef, RouteInfo, RouteSpec, Timestamp};
use crate::{BackendError, Errno, Source};
use ipnet::IpNet;

/// What the outstanding request of A2–A3 is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Obtaining {
    BridgeForVeth,
    VethCreated,
    BridgeCreated,
    LinkInNamespace,
    LinkInHost,
    Moved,
    /// After a failed move: is the link still in the host?
    MoveFailedHostCheck(StepError),
    /// It left the host: did it land in the namespace under its source name?
    MoveFailedNamespaceCheck(StepError),
    /// Before setting an up link down: its routes and IPv6 addresses, to restore on failure.
    OwnRoutes(Family),
    OwnAddresses,
    Down,
    Renamed,
}

impl Attach {
    /// A2: the first request, by the kind of source.
    pub(super) fn start(&mut self, now: Timestamp) {
        self.phase(now, Phase::Obtaining);
        let ns = self.ns();
        match self.plan.spec.source.clone() {
            Source::VethOnBridge { bridge, .. } => self.issue(
                Request::LinkByName {
                    netns: NetnsRef::Host,
                    name: bridge,
                },
                Obtaining::BridgeForVeth,
            ),
            Source::NewBridge(name) => self.issue(
                Request::CreateBridge {
                    netns: ns,
                    name,
                    options: BridgeOptions::default(),
                },
                Obtaining::BridgeCreated,
            ),
            Source::CreatedInNamespace(name) => self.issue(
                Request::LinkByName { netns: ns, name },
                Obtaining::LinkInNamespace,
            ),
            Source::HostLink(name) => self.issue(
                Request::LinkByName {
                    netns: NetnsRef::Host,
                    name,
                },
                Obtaining::LinkInHost,
            ),
        }
    }

    /// Replies of A2 and A3.
    pub(super) fn on_obtain_reply(
        &mut self,
        now: Timestamp,
        step: Obtaining,
        result: Result<Reply, BackendError>,
    ) {
        match (step, result) {
            (Obtaining::BridgeForVeth, Ok(Reply::Link(bridge))) => {
                let Source::VethOnBridge {
                    bridge: bname,
                    host_name,
                } = self.plan.spec.source.clone()
                else {
                    unreachable!("awaiting a bridge only on the veth path")
                };
                self.known_bridge = Some(KnownBridge {
                    index: bridge.index,
                    bridge: bridge.bridge,
                });
                if bridge.kind != LinkKind::Bridge {
                    let ctx = format!(
                        "veth_on_bridge {bname:?} is a {}, not a bridge",
                        bridge.kind.as_str()
                    );
                    return self.fail(now, StepError::new(ctx, None));
                }
                // L3: a bridge that cannot filter VLANs refuses them before the pair exists.
                if let Err(e) = self.check_vlan_filtering(&bname, bridge.bridge) {
                    return self.fail(now, e);
                }
                let request = VethRequest {
                    host_name,
                    host_master: Some(bridge.index),
                    host_up: true,
                    peer_netns: self.ns(),
                    peer_name: self.plan.name.clone(),
                    peer_mac: self.plan.spec.mac,
                    // L1: both ends, at creation, before either is up.
                    mtu: self.plan.spec.mtu,
                };
                self.issue(
                    Request::CreateVeth {
                        netns: NetnsRef::Host,
                        request,
                    },
                    Obtaining::VethCreated,
                );
            }
            (Obtaining::BridgeForVeth, Err(e)) => {
                let ctx = match &self.plan.spec.source {
                    Source::VethOnBridge { bridge, .. } => {
                        format!("failed to find bridge {bridge:?} in the host namespace")
                    }
                    _ => unreachable!(),
                };
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Obtaining::VethCreated, Ok(Reply::Veth(pair))) => {
                self.index = pair.peer_index;
                self.origin = Origin::NewVeth {
                    host_index: pair.host_index,
                };
                self.undo.record_leave(Request::DeleteLinks {
                    netns: NetnsRef::Host,
                    indices: vec![pair.host_index],
                });
                self.configure(now);
            }
            (Obtaining::VethCreated, Err(e)) => {
                let ctx = if e.is(Errno::EEXIST) {
                    format!(
                        "error renaming interface {:?} to {:?}",
                        self.source_name(),
                        self.plan.name
                    )
                } else {
                    format!(
                        "failed to create veth pair {:?} / {:?}",
                        self.source_name(),
                        self.plan.name
                    )
                };
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Obtaining::BridgeCreated, Ok(Reply::Index(index))) => {
                self.index = index;
                self.undo.record_leave(Request::DeleteLinks {
                    netns: self.ns(),
                    indices: vec![index],
                });
                self.rename(now);
            }
            (Obtaining::BridgeCreated, Err(e)) => {
                let ctx = format!("failed to create bridge {:?}", self.source_name());
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Obtaining::LinkInNamespace, Ok(Reply::Link(link))) => {
                self.index = link.index;
                self.original = Some(link);
                self.set_down(now);
            }
            (Obtaining::LinkInHost, Ok(Reply::Link(link))) => {
                self.index = link.index;
                self.original = Some(link.clone());
                if self.plan.netns.is_host() {
                    return self.set_down(now);
                }
                if link.flags.up {
                    self.undo.record(Request::SetLinkUp {
                        netns: NetnsRef::Host,
                        index: link.index,
                    });
                }
                self.issue(
                    Request::MoveLink {
                        from: NetnsRef::Host,
                        index: link.index,
                        to: self.ns(),
                        new_name: self.plan.name.clone(),
                    },
                    Obtaining::Moved,
                );
            }
            (Obtaining::LinkInNamespace | Obtaining::LinkInHost, Err(e)) => {
                let ctx = format!("failed to get link by name {:?}", self.source_name());
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Obtaining::Moved, Ok(Reply::Index(index))) => {
                self.index = index;
                self.undo.record_leave(Request::MoveLink {
                    from: self.ns(),
                    index,
                    to: NetnsRef::Host,
                    new_name: self.source_name().to_string(),
                });
                // Moved links arrive down and already renamed (one message, SPEC A2/A3).
                self.configure(now);
            }
            (Obtaining::Moved, Err(e)) => {
                let ctx = format!(
                    "error renaming interface {:?} to {:?}",
                    self.source_name(),
                    self.plan.name
                );
                // Linux moves first and renames second: EEXIST can come after the move.
                // Find out where the link is before reporting, so that it goes back (N4).
                self.issue(
                    Request::LinkByName {
                        netns: NetnsRef::Host,
                        name: self.source_name().to_string(),
                    },
                    Obtaining::MoveFailedHostCheck(StepError::new(ctx, Some(e))),
                );
            }
            (Obtaining::MoveFailedHostCheck(error), Err(e)) if e.is(Errno::ENODEV) => self.issue(
                Request::LinkByName {
                    netns: self.ns(),
                    name: self.source_name().to_string(),
                },
                Obtaining::MoveFailedNamespaceCheck(error),
            ),
            (Obtaining::MoveFailedHostCheck(error), _) => self.fail(now, error),
            (Obtaining::MoveFailedNamespaceCheck(error), Ok(Reply::Link(link)))
                if link.mac == self.original.as_ref().and_then(|o| o.mac) =>
            {
                self.index = link.index;
                self.undo.record_leave(Request::MoveLink {
                    from: self.ns(),
                    index: link.index,
                    to: NetnsRef::Host,
                    new_name: self.source_name().to_string(),
                });
                self.fail(now, error)
            }
            (Obtaining::MoveFailedNamespaceCheck(error), _) => self.fail(now, error),

            // A3
            (Obtaining::OwnRoutes(Family::V4), Ok(Reply::Routes(routes))) => {
                self.remember_own_routes(&routes);
                self.issue(
                    Request::ListRoutes {
                        netns: self.ns(),
                        family: Family::V6,
                    },
                    Obtaining::OwnRoutes(Family::V6),
                );
            }
            (Obtaining::OwnRoutes(Family::V6), Ok(Reply::Routes(routes))) => {
                self.remember_own_routes(&routes);
                self.issue(
                    Request::ListAddresses {
                        netns: self.ns(),
                        index: Some(self.index),
                    },
                    Obtaining::OwnAddresses,
                );
            }
            (Obtaining::OwnAddresses, Ok(Reply::Addresses(addrs))) => {
                for a in addrs
                    .iter()
                    .filter(|a| a.index == self.index && matches!(a.net, IpNet::V6(_)))
                {
                    self.undo.record(Request::AddAddress {
                        netns: self.ns(),
                        index: self.index,
                        net: a.net,
                        nodad: a.flags.nodad,
                    });
                }
                self.undo.record(Request::SetLinkUp {
                    netns: self.ns(),
                    index: self.index,
                });
                self.issue_down();
            }
            (Obtaining::OwnRoutes(_) | Obtaining::OwnAddresses, Err(e)) => {
                let ctx = format!(
                    "failed to read the state of interface {:?}",
                    self.source_name()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Obtaining::Down, Ok(_)) => self.rename(now),
            (Obtaining::Down, Err(e)) => {
                let ctx = format!("failed to set interface {:?} down", self.source_name());
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Obtaining::Renamed, Ok(_)) => {
                if self.origin != Origin::NewBridge {
                    self.undo.record(Request::RenameLink {
                        netns: self.ns(),
                        index: self.index,
                        name: self.source_name().to_string(),
                    });
                }
                self.configure(now);
            }
            (Obtaining::Renamed, Err(e)) => {
                let ctx = format!(
                    "error renaming interface {:?} to {:?}",
                    self.source_name(),
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (step, Ok(reply)) => self.unexpected(now, &step, reply),
        }
    }

    fn set_down(&mut self, now: Timestamp) {
        self.phase(now, Phase::Renaming);
        if self.original.as_ref().is_some_and(|l| l.flags.up) {
            // Setting an up link down flushes its routes and IPv6 addresses: note them first,
            // so that a rollback can put them back (A15).
            return self.issue(
                Request::ListRoutes {
                    netns: self.ns(),
                    family: Family::V4,
                },
                Obtaining::OwnRoutes(Family::V4),
            );
        }
        self.issue_down();
    }

    fn issue_down(&mut self) {
        self.issue(
            Request::SetLinkDown {
                netns: self.ns(),
                index: self.index,
            },
            Obtaining::Down,
        );
    }

    /// Undo entries that restore what the down flushes, run after the link is up again.
    fn remember_own_routes(&mut self, routes: &[RouteInfo]) {
        for r in routes.iter().filter(|r| r.oif == Some(self.index)) {
            self.undo.record(Request::AddRoute {
                netns: self.ns(),
                route: RouteSpec {
                    dst: r.dst,
                    gateway: r.gateway,
                    oif: self.index,
                    scope: r.scope,
                },
            });
        }
    }

    fn rename(&mut self, now: Timestamp) {
        let current = match &self.original {
            Some(l) => l.name.clone(),
            None => self.source_name().to_string(),
        };
        if current == self.plan.name {
            return self.configure(now);
        }
        self.issue(
            Request::RenameLink {
                netns: self.ns(),
                index: self.index,
                name: self.plan.name.clone(),
            },
            Obtaining::Renamed,
        );
    }
}
