//! Bridge ports (SPEC L2–L4): hairpin and isolation flags, and the per-port VLAN table. All
//! of it is AF_BRIDGE netlink, sent as the `bridge` tool sends it ([`port_flags_msg`],
//! [`vlans_msg`], [`vlan_dump_msg`]; `iproute2_bytes` holds them to iproute2's bytes).
//!
//! What this project's kernel answers (Linux 6.18 built without
//! `CONFIG_BRIDGE_VLAN_FILTERING`; measured with iproute2 6.1 in a fresh namespace):
//! * `ip link add B type bridge vlan_filtering 1` — and `vlan_filtering 0` too: any
//!   `IFLA_BR_VLAN_FILTERING` in a create or change — EOPNOTSUPP, nothing created. A plain
//!   bridge reads back `IFLA_BR_VLAN_FILTERING` = 0 but without `IFLA_BR_VLAN_PROTOCOL` /
//!   `IFLA_BR_VLAN_DEFAULT_PVID` (only a kernel with VLAN filtering sends those): the link read
//!   reports `vlan_filtering: None` then ([`crate::nl::parse_link`]).
//! * `bridge vlan add dev PORT vid 10 [pvid untagged]`, and a range `vid 20-30`: EOPNOTSUPP,
//!   the table unchanged.
//! * `bridge vlan del dev PORT vid N`: success on a port whatever N — the kernel ignores a
//!   failed delete of each VID (`br_vlan_info`, RTM_DELLINK), here and with filtering alike.
//! * `bridge -compressvlans -j vlan show`: `[]`; the AF_BRIDGE dump has a message per port and
//!   bridge, none with `IFLA_AF_SPEC`.
//! * `bridge link set dev PORT hairpin on|off isolated on|off`: works; read back in
//!   `bridge -d -j link` and in `IFLA_LINKINFO` → `IFLA_INFO_SLAVE_KIND` "bridge" +
//!   `IFLA_INFO_SLAVE_DATA` (`IFLA_BRPORT_MODE`, `IFLA_BRPORT_ISOLATED`) of a plain RTM_GETLINK.
//!   A port that leaves and joins again starts with both off.
//! * Any of these on a link that is no bridge port (the bridge itself included): EOPNOTSUPP.
//!
//! The kernel gives no extended ack for either EOPNOTSUPP, so the error's detail says which
//! one it was ([`NO_VLAN_FILTERING`] or "not a bridge port"), from a read of the link.

use crate::nl;
use crate::LinuxBackend;
use netlink_packet_core::DefaultNla;
use netlink_packet_route::link::{
    AfSpecBridge, BridgeVlanInfo, BridgeVlanInfoFlags, LinkAttribute, LinkExtentMask, LinkMessage,
    LinkProtoInfoBridge,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nsplumb_core::{
    BackendError, Errno, IfIndex, NetnsRef, Op, PortFlagsChange, PortVlans, VlanSpec,
};
use tracing::Instrument;

/// `IFLA_BRPORT_MODE` (hairpin) in `IFLA_PROTINFO`.
const IFLA_BRPORT_MODE: u16 = 4;
/// `IFLA_BRPORT_ISOLATED` in `IFLA_PROTINFO`.
const IFLA_BRPORT_ISOLATED: u16 = 33;

/// The detail of an EOPNOTSUPP from a VLAN request on a bridge port, or from a bridge
/// created with VLAN filtering: the kernel cannot filter VLANs at all.
pub(crate) const NO_VLAN_FILTERING: &str =
    "the kernel lacks bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)";

/// The detail of an EOPNOTSUPP from a port request on a link that is no bridge port.
const NOT_A_PORT: &str = "not a bridge port";

/// An AF_BRIDGE link message about port `index`.
fn port_msg(index: IfIndex) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.interface_family = AddressFamily::Bridge;
    m.header.index = index;
    m
}

/// `bridge link set dev X hairpin on|off isolated on|off`: an AF_BRIDGE RTM_SETLINK with the
/// flags that change in a nested `IFLA_PROTINFO`, hairpin first.
pub(crate) fn port_flags_msg(index: IfIndex, flags: PortFlagsChange) -> LinkMessage {
    let mut m = port_msg(index);
    let flag =
        |kind: u16, on: bool| LinkProtoInfoBridge::Other(DefaultNla::new(kind, vec![on.into()]));
    let mut info = Vec::new();
    if let Some(on) = flags.hairpin {
        info.push(flag(IFLA_BRPORT_MODE, on));
    }
    if let Some(on) = flags.isolated {
        info.push(flag(IFLA_BRPORT_ISOLATED, on));
    }
    m.attributes.push(LinkAttribute::ProtoInfoBridge(info));
    m
}

/// `bridge vlan add|del dev X vid A[-B] [pvid] [untagged]` for each of `vlans`, in one
/// message: `IFLA_AF_SPEC` with one `IFLA_BRIDGE_VLAN_INFO` per VID, or a `RANGE_BEGIN` /
/// `RANGE_END` pair (both with the flags) per range. Sent as RTM_SETLINK to add and
/// RTM_DELLINK to delete; the kernel applies the entries in order and stops at the first error.
pub(crate) fn vlans_msg(index: IfIndex, vlans: &[VlanSpec]) -> LinkMessage {
    let mut m = port_msg(index);
    let mut spec = Vec::with_capacity(vlans.len() * 2);
    for v in vlans {
        let mut flags = BridgeVlanInfoFlags::empty();
        flags.set(BridgeVlanInfoFlags::Pvid, v.pvid);
        flags.set(BridgeVlanInfoFlags::Untagged, v.untagged);
        let info = |flags, vid| AfSpecBridge::VlanInfo(BridgeVlanInfo { flags, vid });
        if v.first == v.last {
            spec.push(info(flags, v.first));
        } else {
            spec.push(info(flags | BridgeVlanInfoFlags::RangeBegin, v.first));
            spec.push(info(flags | BridgeVlanInfoFlags::RangeEnd, v.last));
        }
    }
    m.attributes.push(LinkAttribute::AfSpecBridge(spec));
    m
}

/// `bridge -compressvlans vlan show`: the AF_BRIDGE link dump asking for the VLAN tables with
/// runs of VIDs with the same flags as ranges.
pub(crate) fn vlan_dump_msg() -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.interface_family = AddressFamily::Bridge;
    m.attributes.push(LinkAttribute::ExtMask(vec![
        LinkExtentMask::BrvlanCompressed,
    ]));
    m
}

/// The VLAN table in one message of the AF_BRIDGE dump; `None` for a bridge's own entry (no
/// `IFLA_MASTER`) and for a port without VLANs (as `bridge vlan show` leaves them out).
pub(crate) fn parse_port_vlans(msg: &LinkMessage) -> Option<PortVlans> {
    let is_port = msg
        .attributes
        .iter()
        .any(|a| matches!(a, LinkAttribute::Controller(m) if *m != 0));
    if !is_port {
        return None;
    }
    let mut vlans = Vec::new();
    let mut begin: Option<VlanSpec> = None;
    for a in &msg.attributes {
        let LinkAttribute::AfSpecBridge(spec) = a else {
            continue;
        };
        for entry in spec {
            let AfSpecBridge::VlanInfo(v) = entry else {
                continue;
            };
            let here = VlanSpec {
                first: v.vid,
                last: v.vid,
                pvid: v.flags.contains(BridgeVlanInfoFlags::Pvid),
                untagged: v.flags.contains(BridgeVlanInfoFlags::Untagged),
            };
            if v.flags.contains(BridgeVlanInfoFlags::RangeBegin) {
                begin = Some(here);
            } else if v.flags.contains(BridgeVlanInfoFlags::RangeEnd) {
                if let Some(first) = begin.take() {
                    vlans.push(VlanSpec {
                        last: v.vid,
                        ..first
                    });
                }
            } else {
                vlans.push(here);
            }
        }
    }
    (!vlans.is_empty()).then_some(PortVlans {
        index: msg.header.index,
        vlans,
    })
}

impl LinuxBackend {
    /// Send a port change; an error names the link, and the VLANs when there are some.
    async fn port_request(
        &self,
        op: Op,
        netns: &NetnsRef,
        index: IfIndex,
        msg: RouteNetlinkMessage,
        vlans: Option<&[VlanSpec]>,
    ) -> Result<(), BackendError> {
        let ns = self.ns(op, netns)?;
        match self.inner.req(&ns, msg, nl::ACK).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let unsupported = e.errno == Errno::EOPNOTSUPP && e.detail.is_empty();
                let mut be = self.link_err(op, &ns, netns, index, e).await;
                if unsupported {
                    // The kernel says no more than EOPNOTSUPP for both causes.
                    let is_port = match self.inner.get_link_msg(&ns, Some(index), None).await {
                        Ok(m) => nl::parse_link(&m).info.port_flags.is_some(),
                        Err(_) => false,
                    };
                    be.detail = match (is_port, vlans.is_some()) {
                        (false, _) => NOT_A_PORT,
                        (true, true) => NO_VLAN_FILTERING,
                        (true, false) => "",
                    }
                    .into();
                }
                if let Some(vlans) = vlans {
                    let vids: Vec<String> = vlans.iter().map(VlanSpec::to_string).collect();
                    be.object = format!("VLAN {} on {}", vids.join(","), be.object);
                }
                Err(be)
            }
        }
    }

    /// SPEC L2, L4.
    pub(crate) async fn set_port_flags(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        flags: PortFlagsChange,
    ) -> Result<(), BackendError> {
        let op = Op::SetPortFlags;
        let span = tracing::debug_span!("set_port_flags", ifindex = index, netns = %netns,
            hairpin = ?flags.hairpin, isolated = ?flags.isolated);
        let msg = RouteNetlinkMessage::SetLink(port_flags_msg(index, flags));
        self.port_request(op, netns, index, msg, None)
            .instrument(span)
            .await
    }

    /// SPEC L3: add (`delete` false) or delete VLANs on a port.
    pub(crate) async fn change_port_vlans(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        vlans: &[VlanSpec],
        delete: bool,
    ) -> Result<(), BackendError> {
        let (op, msg) = if delete {
            let m = RouteNetlinkMessage::DelLink(vlans_msg(index, vlans));
            (Op::DelPortVlans, m)
        } else {
            let m = RouteNetlinkMessage::SetLink(vlans_msg(index, vlans));
            (Op::AddPortVlans, m)
        };
        let span = tracing::debug_span!("port_vlans", ifindex = index, netns = %netns, delete,
            count = vlans.len());
        self.port_request(op, netns, index, msg, Some(vlans))
            .instrument(span)
            .await
    }

    /// SPEC L3, L6: every bridge port's VLANs, by index; ports without any are left out.
    pub(crate) async fn list_port_vlans(
        &self,
        netns: &NetnsRef,
    ) -> Result<Vec<PortVlans>, BackendError> {
        let op = Op::ListPortVlans;
        let ns = self.ns(op, netns)?;
        let replies = self
            .inner
            .req(&ns, RouteNetlinkMessage::GetLink(vlan_dump_msg()), nl::DUMP)
            .instrument(tracing::debug_span!("list_port_vlans", netns = %netns))
            .await
            .map_err(|e| Self::err(op, netns, "bridge port VLANs", e))?;
        let mut ports: Vec<PortVlans> = replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => parse_port_vlans(l),
                _ => None,
            })
            .collect();
        ports.sort_by_key(|p| p.index);
        Ok(ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::tests::nla;
    use netlink_packet_core::Parseable;

    /// `IFLA_BRIDGE_VLAN_INFO` {flags, vid}.
    fn vinfo(flags: u16, vid: u16) -> Vec<u8> {
        let mut v = flags.to_ne_bytes().to_vec();
        v.extend_from_slice(&vid.to_ne_bytes());
        nla(2, &v)
    }

    /// One message of the AF_BRIDGE dump as the kernel sends it (`br_fill_ifinfo`).
    fn dump_entry(index: u32, master: Option<u32>, vlans: &[Vec<u8>]) -> LinkMessage {
        let mut b = vec![7u8, 0]; // AF_BRIDGE
        b.extend_from_slice(&1u16.to_ne_bytes()); // ARPHRD_ETHER
        b.extend_from_slice(&index.to_ne_bytes());
        b.extend_from_slice(&0x1003u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&nla(3, b"v0\0")); // IFLA_IFNAME
        if let Some(m) = master {
            b.extend_from_slice(&nla(10, &m.to_ne_bytes())); // IFLA_MASTER
        }
        if !vlans.is_empty() {
            b.extend_from_slice(&nla(26, &vlans.concat())); // IFLA_AF_SPEC
        }
        LinkMessage::parse(b.as_slice()).expect("a valid AF_BRIDGE RTM_NEWLINK")
    }

    // SPEC: L3
    // SPEC: L6
    #[test]
    fn compressed_vlan_tables_are_read_as_ranges() {
        const PVID: u16 = 2;
        const UNTAGGED: u16 = 4;
        const BEGIN: u16 = 8;
        const END: u16 = 16;
        let entry = dump_entry(
            4,
            Some(3),
            &[
                vinfo(PVID | UNTAGGED, 10),
                vinfo(BEGIN, 20),
                vinfo(END, 30),
                vinfo(UNTAGGED | BEGIN, 40),
                vinfo(UNTAGGED | END, 41),
                vinfo(0, 100),
            ],
        );
        let got = parse_port_vlans(&entry).expect("a port with VLANs");
        assert_eq!(got.index, 4);
        let span = |first, last, pvid, untagged| VlanSpec {
            first,
            last,
            pvid,
            untagged,
        };
        let want = [
            span(10, 10, true, true),
            span(20, 30, false, false),
            span(40, 41, false, true),
            VlanSpec::tagged(100),
        ];
        assert_eq!(got.vlans, want);
    }

    // SPEC: L3
    #[test]
    fn the_bridge_itself_and_ports_without_vlans_are_left_out() {
        // What this project's kernel sends for a port: no IFLA_AF_SPEC at all.
        assert_eq!(parse_port_vlans(&dump_entry(4, Some(3), &[])), None);
        // The bridge's own VLANs (`bridge vlan ... self`): no IFLA_MASTER.
        assert_eq!(parse_port_vlans(&dump_entry(3, None, &[vinfo(6, 1)])), None);
    }
}
