//! The records kept for a namespace: the core's own types, plus only what is the host
//! state's own (where the record is in its life, which process acts on it or announces it,
//! and who asked for it).

use crate::announcer::AnnouncerProcess;
use crate::process::ProcessRef;
use nsplumb_core::{Attached, Spec};
use serde::{Deserialize, Serialize};

/// Where a record is in its life, as far as other processes need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecordPhase {
    #[default]
    Attached,
    /// A process is detaching it: the kernel may be half done if that process died.
    Detaching,
    /// SPEC D3: the link disappeared behind nsplumb's back; the name stays reserved.
    Vanished,
}

impl RecordPhase {
    fn is_attached(&self) -> bool {
        *self == RecordPhase::Attached
    }
}

/// Who asked for an attachment, when a front end keys its attachments by something other than
/// the namespace and the name: the CNI plugin's network name, container ID and interface name,
/// so that DEL and GC find the host end even when the namespace is gone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
}

/// One attached interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IfaceRecord {
    pub attached: Attached,
    /// `detaching` while a process detaches it (a crash mid-detach is recognised by the next
    /// process, see [`crate::reconcile`]); `vanished` once a detach found the link gone (D3).
    #[serde(default, skip_serializing_if = "RecordPhase::is_attached")]
    pub phase: RecordPhase,
    /// The process that set `phase` to `detaching`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<ProcessRef>,
    /// The process still sending its announcements, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announcer: Option<AnnouncerProcess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

impl IfaceRecord {
    pub fn new(attached: Attached) -> IfaceRecord {
        IfaceRecord {
            attached,
            phase: RecordPhase::Attached,
            actor: None,
            announcer: None,
            owner: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.attached.name
    }
}

/// An attach as intended, saved under the namespace lock *before* the kernel is touched: the
/// name it holds (chosen once, by [`nsplumb_core::Plumber::reserve`]) and the request, so that
/// whatever it did can be found and undone if its process dies before saving the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentRecord {
    /// The destination name the reservation holds.
    pub name: String,
    pub spec: Spec,
    /// The process doing the attach; once it is gone the record is reconciled.
    pub actor: ProcessRef,
    /// SPEC L1: the MTU of a host link the attach moves in and gives another MTU, read before
    /// the kernel is touched, so that a recovered record's detach gives it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}
