//! The link option requests (SPEC L1–L4) held byte for byte against what iproute2 sends for
//! the same operation, as rust-netlink's own tests hold its messages to captures.
//!
//! Each constant is one message captured with
//! `strace -qq -e trace=sendmsg,sendto -e write=3,4 -xx CMD` in a fresh namespace
//! (`unshare -n`; `v0` was ifindex 4), iproute2 6.1 on Linux 6.18 x86_64 (host byte order:
//! little-endian, hence the `cfg` of this module). Normalised: the sequence number (bytes
//! 8..12) is zeroed, as the connection sets it; the port id is 0 in both.

use crate::bridge_port::{port_flags_msg, vlan_dump_msg, vlans_msg};
use crate::links::{bridge_msg, mtu_msg, veth_msg};
use crate::nl;
use crate::nl::tests::nla;
use netlink_packet_core::{Emitable, NLM_F_ECHO};
use netlink_packet_route::RouteNetlinkMessage;
use nsplumb_core::{BridgeOptions, NetnsRef, PortFlagsChange, VethRequest, VlanSpec};

/// `bridge vlan add dev v0 vid 10 pvid untagged`: AF_BRIDGE RTM_SETLINK, `IFLA_AF_SPEC` →
/// `IFLA_BRIDGE_VLAN_INFO` {PVID | UNTAGGED, 10}.
const VLAN_ADD_10_PVID_UNTAGGED: &[u8] = &[
    0x2c, 0x00, 0x00, 0x00, 0x13, 0x00, 0x05, 0x00, 0xfe, 0x64, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x1a, 0x00, 0x08, 0x00, 0x02, 0x00, 0x06, 0x00, 0x0a, 0x00,
];

/// `bridge vlan add dev v0 vid 20-30`: {RANGE_BEGIN, 20}, {RANGE_END, 30}.
const VLAN_ADD_20_30: &[u8] = &[
    0x34, 0x00, 0x00, 0x00, 0x13, 0x00, 0x05, 0x00, 0xfe, 0x64, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x1a, 0x00, 0x08, 0x00, 0x02, 0x00, 0x08, 0x00, 0x14, 0x00, 0x08, 0x00, 0x02, 0x00,
    0x10, 0x00, 0x1e, 0x00,
];

/// `bridge vlan del dev v0 vid 1`: AF_BRIDGE RTM_DELLINK, {0, 1}.
const VLAN_DEL_1: &[u8] = &[
    0x2c, 0x00, 0x00, 0x00, 0x11, 0x00, 0x05, 0x00, 0xfe, 0x64, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x1a, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
];

/// `bridge link set dev v0 hairpin on`: AF_BRIDGE RTM_SETLINK, `NLA_F_NESTED | IFLA_PROTINFO`
/// → `IFLA_BRPORT_MODE` 1.
const HAIRPIN_ON: &[u8] = &[
    0x2c, 0x00, 0x00, 0x00, 0x13, 0x00, 0x05, 0x00, 0xfe, 0x64, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x0c, 0x80, 0x05, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
];

/// `bridge link set dev v0 isolated on`: `IFLA_BRPORT_ISOLATED` 1.
const ISOLATED_ON: &[u8] = &[
    0x2c, 0x00, 0x00, 0x00, 0x13, 0x00, 0x05, 0x00, 0xfe, 0x64, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x0c, 0x80, 0x05, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x00,
];

/// `bridge link set dev v0 hairpin off isolated off`: both, hairpin first.
const HAIRPIN_OFF_ISOLATED_OFF: &[u8] = &[
    0x34, 0x00, 0x00, 0x00, 0x13, 0x00, 0x05, 0x00, 0xfe, 0x64, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x0c, 0x80, 0x05, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x21, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

/// `ip link set v0 mtu 1400`: RTM_NEWLINK (no `NLM_F_CREATE`) of ifindex 4, `IFLA_MTU` 1400.
const MTU_1400: &[u8] = &[
    0x28, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00, 0xfd, 0x64, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x04, 0x00, 0x78, 0x05, 0x00, 0x00,
];

/// `bridge -compressvlans -j vlan show`: the AF_BRIDGE dump, `IFLA_EXT_MASK`
/// `RTEXT_FILTER_BRVLAN_COMPRESSED`. (Without `-compressvlans`, iproute2 6.1 asks
/// `RTEXT_FILTER_BRVLAN`: one entry per VID.)
const VLAN_DUMP_COMPRESSED: &[u8] = &[
    0x28, 0x00, 0x00, 0x00, 0x12, 0x00, 0x01, 0x03, 0x02, 0x65, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x1d, 0x00, 0x04, 0x00, 0x00, 0x00,
];

/// `ip link add v1 mtu 1400 type veth peer name v1p mtu 1400`: each end its `IFLA_MTU`.
const VETH_MTU_1400: &[u8] = &[
    0x64, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x06, 0x07, 0x65, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x04, 0x00, 0x78, 0x05, 0x00, 0x00, 0x07, 0x00, 0x03, 0x00, 0x76, 0x31, 0x00, 0x00,
    0x34, 0x00, 0x12, 0x00, 0x08, 0x00, 0x01, 0x00, 0x76, 0x65, 0x74, 0x68, 0x28, 0x00, 0x02, 0x00,
    0x24, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00, 0x78, 0x05, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00,
    0x76, 0x31, 0x70, 0x00,
];

/// `ip link add b1 mtu 1400 type bridge`.
const BRIDGE_MTU_1400: &[u8] = &[
    0x40, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x06, 0x07, 0x65, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x04, 0x00, 0x78, 0x05, 0x00, 0x00, 0x07, 0x00, 0x03, 0x00, 0x62, 0x31, 0x00, 0x00,
    0x10, 0x00, 0x12, 0x00, 0x0a, 0x00, 0x01, 0x00, 0x62, 0x72, 0x69, 0x64, 0x67, 0x65, 0x00, 0x00,
];

/// `ip link add b2 type bridge vlan_filtering 1`: `IFLA_INFO_DATA` → `IFLA_BR_VLAN_FILTERING` 1
/// (this kernel answers EOPNOTSUPP).
const BRIDGE_VLAN_FILTERING: &[u8] = &[
    0x44, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x06, 0x07, 0x65, 0x11, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x00, 0x03, 0x00, 0x62, 0x32, 0x00, 0x00, 0x1c, 0x00, 0x12, 0x00, 0x0a, 0x00, 0x01, 0x00,
    0x62, 0x72, 0x69, 0x64, 0x67, 0x65, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x05, 0x00, 0x07, 0x00,
    0x01, 0x00, 0x00, 0x00,
];

/// The bytes nsplumb sends for `msg` with `flags`, sequence number zeroed.
fn sent(msg: RouteNetlinkMessage, flags: u16) -> Vec<u8> {
    let msg = nl::wrap(msg, flags);
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.emit(&mut buf);
    normalised(&buf)
}

/// A capture with its sequence number zeroed.
fn normalised(captured: &[u8]) -> Vec<u8> {
    let mut b = captured.to_vec();
    b[8..12].fill(0);
    b
}

/// A link creation, with its two known differences from iproute2 taken out: nsplumb adds
/// `NLM_F_ECHO` to have the new index echoed (`nl::CREATE_ECHO`), and netlink-packet-route
/// ends `IFLA_INFO_KIND` with a NUL where iproute2 does not (the kernel reads both: the
/// attribute is an `NLA_STRING`).
fn created(msg: RouteNetlinkMessage) -> Vec<u8> {
    let bytes = sent(msg, nl::CREATE_ECHO & !NLM_F_ECHO);
    let top = attrs(&bytes[32..])
        .into_iter()
        .map(|(kind, value)| match kind {
            IFLA_LINKINFO => {
                let inner = attrs(&value)
                    .into_iter()
                    .map(|(k, mut v)| {
                        if k == IFLA_INFO_KIND && v.last() == Some(&0) {
                            v.pop();
                        }
                        (k, v)
                    })
                    .collect::<Vec<_>>();
                (kind, emit_attrs(&inner))
            }
            _ => (kind, value),
        })
        .collect::<Vec<_>>();
    let mut out = bytes[..32].to_vec();
    out.extend_from_slice(&emit_attrs(&top));
    let len = out.len() as u32;
    out[..4].copy_from_slice(&len.to_ne_bytes());
    out
}

const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;

/// The (type, value) pairs of a run of netlink attributes.
fn attrs(mut buf: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let kind = u16::from_ne_bytes([buf[2], buf[3]]);
        out.push((kind, buf[4..len].to_vec()));
        buf = &buf[((len + 3) & !3).min(buf.len())..];
    }
    out
}

/// [`attrs`] back into bytes, each padded to 4.
fn emit_attrs(attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (kind, value) in attrs {
        out.extend_from_slice(&nla(*kind, value));
    }
    out
}

fn vlan(first: u16, last: u16, pvid: bool, untagged: bool) -> VlanSpec {
    VlanSpec {
        first,
        last,
        pvid,
        untagged,
    }
}

// SPEC: L3
#[test]
fn vlan_add_pvid_untagged_is_what_bridge_vlan_add_sends() {
    let m = RouteNetlinkMessage::SetLink(vlans_msg(4, &[vlan(10, 10, true, true)]));
    assert_eq!(sent(m, nl::ACK), normalised(VLAN_ADD_10_PVID_UNTAGGED));
}

// SPEC: L3
#[test]
fn vlan_range_add_is_what_bridge_vlan_add_sends() {
    let m = RouteNetlinkMessage::SetLink(vlans_msg(4, &[vlan(20, 30, false, false)]));
    assert_eq!(sent(m, nl::ACK), normalised(VLAN_ADD_20_30));
}

// SPEC: L3
#[test]
fn vlan_del_is_what_bridge_vlan_del_sends() {
    let m = RouteNetlinkMessage::DelLink(vlans_msg(4, &[VlanSpec::tagged(1)]));
    assert_eq!(sent(m, nl::ACK), normalised(VLAN_DEL_1));
}

// SPEC: L3
#[test]
fn several_vlans_go_in_one_message_in_order() {
    // iproute2 sends one VID or range per command; nsplumb puts a PVID and a trunk in one
    // IFLA_AF_SPEC: the entries of the captures above, one after the other.
    let m = vlans_msg(4, &[vlan(10, 10, true, true), vlan(20, 30, false, false)]);
    let both = sent(RouteNetlinkMessage::SetLink(m), nl::ACK);
    let single = normalised(VLAN_ADD_10_PVID_UNTAGGED);
    let range = normalised(VLAN_ADD_20_30);
    // Header (16) + ifinfomsg (16), then IFLA_AF_SPEC: its header, then the entries.
    let mut want = range[..32].to_vec();
    want.extend_from_slice(&(4u16 + 8 + 16).to_ne_bytes());
    want.extend_from_slice(&range[34..36]);
    want.extend_from_slice(&single[36..]);
    want.extend_from_slice(&range[36..]);
    let len = want.len() as u32;
    want[..4].copy_from_slice(&len.to_ne_bytes());
    assert_eq!(both, want);
}

// SPEC: L3
#[test]
fn vlan_dump_is_what_bridge_compressvlans_vlan_show_asks() {
    let m = RouteNetlinkMessage::GetLink(vlan_dump_msg());
    assert_eq!(sent(m, nl::DUMP), normalised(VLAN_DUMP_COMPRESSED));
}

// SPEC: L2
#[test]
fn hairpin_on_is_what_bridge_link_set_sends() {
    let flags = PortFlagsChange {
        hairpin: Some(true),
        isolated: None,
    };
    let m = RouteNetlinkMessage::SetLink(port_flags_msg(4, flags));
    assert_eq!(sent(m, nl::ACK), normalised(HAIRPIN_ON));
}

// SPEC: L4
#[test]
fn isolated_on_is_what_bridge_link_set_sends() {
    let flags = PortFlagsChange {
        hairpin: None,
        isolated: Some(true),
    };
    let m = RouteNetlinkMessage::SetLink(port_flags_msg(4, flags));
    assert_eq!(sent(m, nl::ACK), normalised(ISOLATED_ON));
}

// SPEC: L2
// SPEC: L4
#[test]
fn both_flags_off_is_what_bridge_link_set_sends() {
    let flags = PortFlagsChange {
        hairpin: Some(false),
        isolated: Some(false),
    };
    let m = RouteNetlinkMessage::SetLink(port_flags_msg(4, flags));
    assert_eq!(sent(m, nl::ACK), normalised(HAIRPIN_OFF_ISOLATED_OFF));
}

// SPEC: L1
#[test]
fn mtu_is_what_ip_link_set_mtu_sends() {
    let m = RouteNetlinkMessage::NewLink(mtu_msg(4, 1400));
    assert_eq!(sent(m, nl::ACK), normalised(MTU_1400));
}

// SPEC: L1
#[test]
fn veth_with_mtu_is_what_ip_link_add_sends() {
    let request = VethRequest {
        host_name: "v1".into(),
        host_master: None,
        host_up: false,
        peer_netns: NetnsRef::Host,
        peer_name: "v1p".into(),
        peer_mac: None,
        mtu: Some(1400),
    };
    let m = RouteNetlinkMessage::NewLink(veth_msg(&request, None));
    assert_eq!(created(m), normalised(VETH_MTU_1400));
}

// SPEC: L1
#[test]
fn bridge_with_mtu_is_what_ip_link_add_sends() {
    let options = BridgeOptions {
        vlan_filtering: false,
        mtu: Some(1400),
    };
    let m = RouteNetlinkMessage::NewLink(bridge_msg("b1", &options));
    assert_eq!(created(m), normalised(BRIDGE_MTU_1400));
}

// SPEC: L3
#[test]
fn bridge_with_vlan_filtering_is_what_ip_link_add_sends() {
    let options = BridgeOptions {
        vlan_filtering: true,
        mtu: None,
    };
    let m = RouteNetlinkMessage::NewLink(bridge_msg("b2", &options));
    assert_eq!(created(m), normalised(BRIDGE_VLAN_FILTERING));
}
