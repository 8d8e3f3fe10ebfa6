//! rtnetlink plumbing: requests on a cached per-namespace connection, error mapping, and
//! conversion of kernel messages into the core's types.

use futures::{Stream, StreamExt};
use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoKind, InfoPortData, LinkAttribute,
    LinkFlags as NlLinkFlags, LinkInfo as NlLinkInfo, LinkLayerType, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteScope as NlScope,
};
use netlink_packet_route::RouteNetlinkMessage;
use nsplumb_core::{
    AddrFlags, AddrInfo, BridgeInfo, Errno, LinkFlags, LinkKind, LinkStats, MacAddr, PortState,
    RouteInfo, RouteScope,
};
use rtnetlink::Handle;
use std::net::IpAddr;

pub(crate) const GET: u16 = NLM_F_REQUEST;
pub(crate) const DUMP: u16 = NLM_F_REQUEST | NLM_F_DUMP;
pub(crate) const ACK: u16 = NLM_F_REQUEST | NLM_F_ACK;
pub(crate) const CREATE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

/// A failed netlink exchange: the errno and the kernel's extended-ack text, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NlError {
    pub errno: Errno,
    pub detail: String,
    /// The connection itself is gone (its task ended): drop it from the cache and retry.
    pub dead_connection: bool,
}

impl NlError {
    pub fn errno(errno: Errno) -> NlError {
        NlError {
            errno,
            detail: String::new(),
            dead_connection: false,
        }
    }

    pub fn io(e: &std::io::Error) -> NlError {
        NlError {
            errno: Errno(e.raw_os_error().unwrap_or(libc::EIO)),
            detail: if e.raw_os_error().is_some() {
                String::new()
            } else {
                e.to_string()
            },
            dead_connection: false,
        }
    }
}

/// The `NLMSGERR_ATTR_MSG` text of an extended ack. The socket has `NETLINK_CAP_ACK` set, so the
/// echoed request is only its 16-byte header and the TLVs follow it.
fn ext_ack_text(payload: &[u8]) -> String {
    let mut rest = payload.get(16..).unwrap_or(&[]);
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            break;
        }
        if kind == 1 {
            let text = &rest[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or(&[]);
            return String::from_utf8_lossy(text).into_owned();
        }
        rest = &rest[(len + 3) & !3usize..];
    }
    String::new()
}

fn wrap(msg: RouteNetlinkMessage, flags: u16) -> NetlinkMessage<RouteNetlinkMessage> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    m.finalize();
    m
}

/// Queue one request on the connection; the returned stream yields its responses. Requests
/// queued before any stream is polled go out together (pipelined on one socket).
pub(crate) fn start(
    handle: &Handle,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<impl Stream<Item = NetlinkMessage<RouteNetlinkMessage>> + Send + use<>, NlError> {
    let mut handle = handle.clone();
    handle.request(wrap(msg, flags)).map_err(|_| NlError {
        errno: Errno::EIO,
        detail: "netlink connection closed".into(),
        dead_connection: true,
    })
}

/// Drain a response stream: the inner messages, or the first error.
pub(crate) async fn collect(
    stream: impl Stream<Item = NetlinkMessage<RouteNetlinkMessage>>,
) -> Result<Vec<RouteNetlinkMessage>, NlError> {
    let mut out = Vec::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(m) = stream.next().await {
        match m.payload {
            NetlinkPayload::InnerMessage(inner) => out.push(inner),
            NetlinkPayload::Error(e) => {
                if let Some(code) = e.code {
                    return Err(NlError {
                        errno: Errno(code.get().abs()),
                        detail: ext_ack_text(&e.header),
                        dead_connection: false,
                    });
                }
            }
            NetlinkPayload::Overrun(_) => {
                return Err(NlError {
                    errno: Errno::EIO,
                    detail: "netlink overrun".into(),
                    dead_connection: false,
                })
            }
            _ => {}
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- conversions

/// A link message read from the kernel, before its peer namespace id is mapped.
#[derive(Debug, Clone)]
pub(crate) struct RawLink {
    pub info: nsplumb_core::LinkInfo,
    /// `IFLA_LINK` of a veth: the peer's index.
    pub peer_index: Option<u32>,
    /// `IFLA_LINK_NETNSID`: where the peer lives, as an id in this namespace.
    pub peer_nsid: Option<i32>,
    pub stats: Option<LinkStats>,
}

pub(crate) fn kind_of(kind: &InfoKind) -> LinkKind {
    match kind {
        InfoKind::Veth => LinkKind::Veth,
        InfoKind::Bridge => LinkKind::Bridge,
        InfoKind::Dummy => LinkKind::Dummy,
        other => LinkKind::Other(other.to_string()),
    }
}

pub(crate) fn parse_link(msg: &LinkMessage) -> RawLink {
    let h = &msg.header;
    let mut name = String::new();
    let mut kind = None;
    let mut mac = None;
    let mut mtu = 0;
    let mut master = None;
    let mut peer_index = None;
    let mut peer_nsid = None;
    let mut bridge = None;
    let mut port_state = None;
    let mut stats = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(a) => {
                if let Ok(b) = <[u8; 6]>::try_from(a.as_slice()) {
                    if b != [0; 6] {
                        mac = Some(MacAddr(b));
                    }
                }
            }
            LinkAttribute::Mtu(m) => mtu = *m,
            LinkAttribute::Controller(m) if *m != 0 => master = Some(*m),
            LinkAttribute::Link(l) => peer_index = Some(*l),
            LinkAttribute::LinkNetNsId(id) => peer_nsid = Some(*id),
            LinkAttribute::Stats64(s) => {
                stats = Some(LinkStats {
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_errors: s.rx_errors,
                    tx_errors: s.tx_errors,
                    rx_dropped: s.rx_dropped,
                    tx_dropped: s.tx_dropped,
                })
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        NlLinkInfo::Kind(k) => kind = Some(kind_of(k)),
                        NlLinkInfo::Data(InfoData::Bridge(opts)) => {
                            let mut b = BridgeInfo {
                                stp_enabled: false,
                                forward_delay_cs: 0,
                            };
                            for o in opts {
                                match o {
                                    InfoBridge::StpState(s) => {
                                        b.stp_enabled = !matches!(s, BridgeStpState::Disabled)
                                    }
                                    InfoBridge::ForwardDelay(d) => b.forward_delay_cs = *d,
                                    _ => {}
                                }
                            }
                            bridge = Some(b);
                        }
                        NlLinkInfo::PortData(InfoPortData::BridgePort(opts)) => {
                            for o in opts {
                                if let InfoBridgePort::State(s) = o {
                                    port_state = PortState::from_kernel(u8::from(*s));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let kind = match kind {
        Some(k) => k,
        None if h.link_layer_type == LinkLayerType::Loopback => LinkKind::Loopback,
        None => LinkKind::Other(format!("{:?}", h.link_layer_type).to_lowercase()),
    };
    let is_veth = kind == LinkKind::Veth;
    RawLink {
        info: nsplumb_core::LinkInfo {
            index: h.index,
            name,
            kind,
            flags: LinkFlags {
                up: h.flags.contains(NlLinkFlags::Up),
                lower_up: h.flags.contains(NlLinkFlags::LowerUp),
                running: h.flags.contains(NlLinkFlags::Running),
            },
            mac,
            mtu,
            master,
            peer: None,
            bridge,
            port_state,
        },
        peer_index: if is_veth {
            peer_index.filter(|i| *i != 0)
        } else {
            None
        },
        peer_nsid: if is_veth { peer_nsid } else { None },
        stats,
    }
}

pub(crate) fn parse_addr(msg: &AddressMessage) -> Option<AddrInfo> {
    let mut local = None;
    let mut address = None;
    let mut flags = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Flags(f) => flags = Some(f.bits()),
            _ => {}
        }
    }
    let ip = local.or(address)?;
    let bits = flags.unwrap_or_else(|| u32::from(msg.header.flags.bits()));
    Some(AddrInfo {
        index: msg.header.index,
        net: IpNet::new(ip, msg.header.prefix_len).ok()?,
        flags: AddrFlags {
            nodad: bits & libc::IFA_F_NODAD != 0,
            tentative: bits & libc::IFA_F_TENTATIVE != 0,
            permanent: bits & libc::IFA_F_PERMANENT != 0,
        },
    })
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

pub(crate) fn scope_to_nl(s: RouteScope) -> NlScope {
    match s {
        RouteScope::Universe => NlScope::Universe,
        RouteScope::Link => NlScope::Link,
        RouteScope::Host => NlScope::Host,
    }
}

pub(crate) fn route_table(msg: &RouteMessage) -> u32 {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table))
}

pub(crate) fn parse_route(msg: &RouteMessage, v6: bool) -> Option<RouteInfo> {
    let mut dst = None;
    let mut gateway = None;
    let mut oif = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = route_addr(a),
            RouteAttribute::Gateway(a) => gateway = route_addr(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    let dst = dst.unwrap_or(if v6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    });
    Some(RouteInfo {
        dst: IpNet::new(dst, msg.header.destination_prefix_length).ok()?,
        gateway,
        oif,
        scope: match msg.header.scope {
            NlScope::Link => RouteScope::Link,
            NlScope::Host => RouteScope::Host,
            _ => RouteScope::Universe,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_ack_text_is_found_after_the_capped_header() {
        let mut p = vec![0u8; 16];
        let msg = b"Unknown device type\0";
        let len = (4 + msg.len()) as u16;
        p.extend_from_slice(&len.to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(msg);
        assert_eq!(ext_ack_text(&p), "Unknown device type");
        assert_eq!(ext_ack_text(&p[..16]), "");
        assert_eq!(ext_ack_text(&[]), "");
    }
}
