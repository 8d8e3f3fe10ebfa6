//! The frame log's record. The frames themselves are `nsplumb-wire`'s, byte for byte what
//! Linux puts on the wire (SPEC S2, S3), and the receiving stacks parse them with it too.

use nsplumb_core::{IfIndex, NetnsRef, Timestamp};

/// One frame sent by `send_arp` / `send_na`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRecord {
    pub time: Timestamp,
    pub netns: NetnsRef,
    pub index: IfIndex,
    pub ifname: String,
    pub bytes: Vec<u8>,
}
