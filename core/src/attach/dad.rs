//! SPEC L5 in the attach: duplicate address detection on request.
//!
//! Without it the IPv6 address is added with `IFA_F_NODAD` in A4. With it, after A7's sysctls,
//! `accept_dad=1` and `enhanced_dad=1` are set on the interface (read first, written only if
//! different, as A7; `enhanced_dad` so that a probe looped back by a hairpin port is not taken
//! for a duplicate), and the address is added without NODAD only after A12, once the bridge
//! port forwards, so that the probes reach the segment. The attach then asks for the address
//! every [`DAD_POLL`] until it is no longer tentative: `dadfailed` or the timeout fail it, and
//! the rollback removes the address with everything else (A15).

use super::{Attach, Wait};
use crate::command::Reply;
use crate::error::StepError;
use crate::event::{EventKind, Phase};
use crate::request::Request;
use crate::types::Timestamp;
use crate::{BackendError, Errno};
use ipnet::IpNet;
use std::time::Duration;

/// How often the attach asks whether DAD is over.
pub const DAD_POLL: Duration = Duration::from_millis(10);

/// The interface's sysctls DAD needs on, below `net/ipv6/conf/IFNAME/`.
const DAD_SYSCTLS: [&str; 2] = ["accept_dad", "enhanced_dad"];

/// What the outstanding request of L5 is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DadStep {
    SysctlRead(usize),
    SysctlWritten(usize, String),
    /// A8 while the address waits for DAD: is IPv6 still on after the sysctls?
    Ipv6Checked,
    Added,
    Polled,
}

impl Attach {
    /// Whether the IPv6 address waits for DAD (asked for, and not dropped by A8).
    pub(super) fn dad_pending(&self) -> bool {
        self.plan.spec.dad.is_some() && self.ipv6.is_some()
    }

    fn dad_sysctl_path(&self, i: usize) -> String {
        format!("net/ipv6/conf/{}/{}", self.plan.name, DAD_SYSCTLS[i])
    }

    /// After A7: the DAD sysctls, one by one, then A8.
    pub(super) fn dad_sysctl(&mut self, now: Timestamp, i: usize) {
        if i >= DAD_SYSCTLS.len() {
            return self.check_ipv6(now);
        }
        self.issue(
            Request::ReadSysctl {
                netns: self.ns(),
                path: self.dad_sysctl_path(i),
            },
            DadStep::SysctlRead(i),
        );
    }

    /// A8 with the address not added yet: IPv6 must still be on.
    pub(super) fn check_ipv6_before_dad(&mut self) {
        self.issue(
            Request::ReadSysctl {
                netns: self.ns(),
                path: format!("net/ipv6/conf/{}/disable_ipv6", self.plan.name),
            },
            DadStep::Ipv6Checked,
        );
    }

    /// After A12: the address without NODAD, then the polling.
    pub(super) fn dad_start(&mut self, now: Timestamp) {
        self.phase(now, Phase::DetectingDuplicateAddress);
        let net = IpNet::V6(self.ipv6.expect("DAD needs an IPv6 address"));
        self.issue(
            Request::AddAddress {
                netns: self.ns(),
                index: self.index,
                net,
                nodad: false,
            },
            DadStep::Added,
        );
    }

    /// The poll timer is due.
    pub(super) fn dad_poll(&mut self) {
        self.issue(
            Request::ListAddresses {
                netns: self.ns(),
                index: Some(self.index),
            },
            DadStep::Polled,
        );
    }

    /// Replies of L5.
    pub(super) fn on_dad_reply(
        &mut self,
        now: Timestamp,
        step: DadStep,
        result: Result<Reply, BackendError>,
    ) {
        match (step, result) {
            (DadStep::SysctlRead(i), Ok(Reply::Value(current))) => {
                if current.trim() == "1" {
                    return self.dad_sysctl(now, i + 1);
                }
                self.issue(
                    Request::WriteSysctl {
                        netns: self.ns(),
                        path: self.dad_sysctl_path(i),
                        value: "1".into(),
                    },
                    DadStep::SysctlWritten(i, current),
                );
            }
            (DadStep::SysctlRead(i), Err(e)) => {
                let path = format!("/proc/sys/{}", self.dad_sysctl_path(i));
                let err = if e.is(Errno::ENOENT) {
                    StepError::new(format!("{path} is not a sysctl file"), None)
                } else {
                    StepError::new(format!("unable to read '{path}'"), Some(e))
                };
                self.fail(now, err)
            }
            (DadStep::SysctlWritten(i, old), Ok(_)) => {
                self.undo.record_in_namespace(Request::WriteSysctl {
                    netns: self.ns(),
                    path: self.dad_sysctl_path(i),
                    value: old,
                });
                self.dad_sysctl(now, i + 1);
            }
            (DadStep::SysctlWritten(i, _), Err(e)) => {
                let path = format!("/proc/sys/{}", self.dad_sysctl_path(i));
                let ctx = format!("unable to write to '{path}'");
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (DadStep::Ipv6Checked, result) => {
                let off = match result {
                    Ok(Reply::Value(v)) => v.trim() == "1",
                    // The interface's IPv6 configuration is gone altogether.
                    Err(e) if e.is(Errno::ENOENT) => true,
                    Ok(reply) => return self.unexpected(now, &DadStep::Ipv6Checked, reply),
                    Err(e) => {
                        let ctx = format!(
                            "failed to check IPv6 addresses of interface {:?}",
                            self.plan.name
                        );
                        return self.fail(now, StepError::new(ctx, Some(e)));
                    }
                };
                if off {
                    self.drop_ipv6(now);
                }
                self.set_up(now);
            }
            (DadStep::Added, Ok(_)) => {
                let net = IpNet::V6(self.ipv6.expect("added"));
                self.undo.record_in_namespace(Request::DelAddress {
                    netns: self.ns(),
                    index: self.index,
                    net,
                });
                let timeout = self.plan.spec.dad.expect("DAD asked for");
                self.dad_give_up = Some(now + timeout);
                self.dad_poll();
            }
            (DadStep::Added, Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} IPv6 to {}",
                    self.plan.name,
                    self.ipv6.map(|a| a.to_string()).unwrap_or_default()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (DadStep::Polled, Ok(Reply::Addresses(addrs))) => {
                let net = IpNet::V6(self.ipv6.expect("polled with an address"));
                let found = addrs.iter().find(|a| a.index == self.index && a.net == net);
                let give_up = self.dad_give_up.unwrap_or(now);
                match found.map(|a| a.flags) {
                    Some(f) if f.dadfailed => {
                        let ctx =
                            format!("duplicate address detected for {net} on {}", self.plan.name);
                        self.fail(now, StepError::new(ctx, None))
                    }
                    Some(f) if !f.tentative => self.after_dad(now),
                    Some(_) if now >= give_up => {
                        let ms = self.plan.spec.dad.unwrap_or_default().as_millis();
                        let ctx = format!(
                            "duplicate address detection for {net} on {} did not finish within {ms} ms",
                            self.plan.name
                        );
                        self.fail(now, StepError::new(ctx, None))
                    }
                    Some(_) => self.wait = Some(Wait::DadPoll(now + DAD_POLL)),
                    None => {
                        let ctx = format!(
                            "IPv6 address {net} vanished from {} during duplicate address detection",
                            self.plan.name
                        );
                        self.fail(now, StepError::new(ctx, None))
                    }
                }
            }
            (DadStep::Polled, Err(e)) => {
                let ctx = format!(
                    "failed to read the addresses of interface {:?} during duplicate address detection",
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (step, Ok(reply)) => self.unexpected(now, &step, reply),
        }
    }

    /// A8: the sysctls took IPv6 away; report no address and send no NA.
    pub(super) fn drop_ipv6(&mut self, now: Timestamp) {
        let dropped = self.ipv6.take().expect("checked only with an IPv6 address");
        self.ipv6_dropped = Some(dropped);
        self.push(now, EventKind::Ipv6Dropped(dropped));
    }
}
