//! The error every backend operation returns.

use crate::{Errno, NetnsRef};
use std::fmt;

/// Every kernel operation (each [`crate::Request`], the link subscription, the namespace
/// administration of [`crate::NetnsAdmin`]), so errors and traces can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    CreateNetns,
    DeleteNetns,
    ListNetns,
    NetnsCookie,
    GetLink,
    ListLinks,
    MoveLink,
    RenameLink,
    SetLinkUp,
    SetLinkDown,
    SetMac,
    SetMaster,
    CreateBridge,
    CreateVeth,
    DeleteLink,
    AddAddress,
    DelAddress,
    ListAddresses,
    AddRoute,
    DelRoute,
    ListRoutes,
    GetRoute,
    ReadSysctl,
    WriteSysctl,
    SubscribeLinks,
    SendArp,
    SendNa,
}

impl Op {
    /// Human wording for messages: "set link up", "add address".
    pub fn describe(self) -> &'static str {
        match self {
            Op::CreateNetns => "create namespace",
            Op::DeleteNetns => "delete namespace",
            Op::ListNetns => "list namespaces",
            Op::NetnsCookie => "read the namespace cookie",
            Op::GetLink => "look up link",
            Op::ListLinks => "list links",
            Op::MoveLink => "move link",
            Op::RenameLink => "rename link",
            Op::SetLinkUp => "set link up",
            Op::SetLinkDown => "set link down",
            Op::SetMac => "set MAC address",
            Op::SetMaster => "set master",
            Op::CreateBridge => "create bridge",
            Op::CreateVeth => "create veth pair",
            Op::DeleteLink => "delete link",
            Op::AddAddress => "add address",
            Op::DelAddress => "delete address",
            Op::ListAddresses => "list addresses",
            Op::AddRoute => "add route",
            Op::DelRoute => "delete route",
            Op::ListRoutes => "list routes",
            Op::GetRoute => "query route",
            Op::ReadSysctl => "read sysctl",
            Op::WriteSysctl => "write sysctl",
            Op::SubscribeLinks => "subscribe to link events",
            Op::SendArp => "send unsolicited ARP",
            Op::SendNa => "send unsolicited neighbour advertisement",
        }
    }
}

/// A failed kernel operation: which operation, on what, in which namespace, and the errno.
///
/// The errno is kept so the core can tell `EEXIST` from `ENODEV` from `ENETUNREACH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub struct BackendError {
    pub op: Op,
    pub errno: Errno,
    pub netns: NetnsRef,
    /// The object acted on: an interface name, `ifindex 7`, an address, a sysctl path.
    pub object: String,
    /// Extra words from the backend (the kernel's extended ack, a hint), may be empty.
    pub detail: String,
}

impl BackendError {
    pub fn new(op: Op, errno: Errno, netns: &NetnsRef, object: impl Into<String>) -> Self {
        BackendError {
            op,
            errno,
            netns: netns.clone(),
            object: object.into(),
            detail: String::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn is(&self, errno: Errno) -> bool {
        self.errno == errno
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} in namespace {}: {}",
            self.op.describe(),
            self.object,
            self.netns,
            self.errno
        )?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        if matches!(self.errno, Errno::EPERM | Errno::EACCES) {
            f.write_str(
                "; this needs CAP_NET_ADMIN: run as root, or inside a user + network namespace (unshare -rn)",
            )?;
        }
        Ok(())
    }
}
