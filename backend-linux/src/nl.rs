//! rtnetlink plumbing: requests on a cached per-namespace connection, error mapping, and
//! conversion of kernel messages into the core's types.

use futures::{Stream, StreamExt};
use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_ECHO,
    NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoKind,
    InfoPortData, LinkAttribute, LinkFlags as NlLinkFlags, LinkInfo as NlLinkInfo, LinkLayerType,
    LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteScope as NlScope,
};
use netlink_packet_route::RouteNetlinkMessage;
use nsplumb_core::{
    AddrFlags, AddrInfo, BridgeInfo, Errno, LinkFlags, LinkKind, LinkStats, MacAddr, PortFlags,
    PortState, RouteInfo, RouteScope,
};
use rtnetlink::Handle;
use std::net::IpAddr;

pub(crate) const GET: u16 = NLM_F_REQUEST;
pub(crate) const DUMP: u16 = NLM_F_REQUEST | NLM_F_DUMP;
pub(crate) const ACK: u16 = NLM_F_REQUEST | NLM_F_ACK;
pub(crate) const CREATE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
/// [`CREATE`] asking for the created object back: since Linux 6.3 an RTM_NEWLINK with
/// `NLM_F_ECHO` is answered with the new link's RTM_NEWLINK (the request's sequence number,
/// before the ack), so its index needs no second request. Older kernels ignore the flag.
pub(crate) const CREATE_ECHO: u16 = CREATE | NLM_F_ECHO;

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

pub(crate) fn wrap(msg: RouteNetlinkMessage, flags: u16) -> NetlinkMessage<RouteNetlinkMessage> {
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
    let mut port_flags = None;
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
                stats = Some(Box::new(LinkStats {
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_errors: s.rx_errors,
                    tx_errors: s.tx_errors,
                    rx_dropped: s.rx_dropped,
                    tx_dropped: s.tx_dropped,
                }))
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        NlLinkInfo::Kind(k) => kind = Some(kind_of(k)),
                        NlLinkInfo::Data(InfoData::Bridge(opts)) => {
                            bridge = Some(bridge_info(opts))
                        }
                        NlLinkInfo::PortData(InfoPortData::BridgePort(opts)) => {
                            let mut flags = PortFlags::default();
                            for o in opts {
                                match o {
                                    InfoBridgePort::State(s) => {
                                        port_state = PortState::from_kernel(u8::from(*s))
                                    }
                                    InfoBridgePort::HairpinMode(on) => flags.hairpin = *on,
                                    InfoBridgePort::Isolated(on) => flags.isolated = *on,
                                    _ => {}
                                }
                            }
                            port_flags = Some(flags);
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
            port_flags,
            ipv6_disabled: disable_ipv6(msg).map(|v| v != 0),
            stats,
        },
        peer_index: if is_veth {
            peer_index.filter(|i| *i != 0)
        } else {
            None
        },
        peer_nsid: if is_veth { peer_nsid } else { None },
    }
}

/// A bridge's `IFLA_INFO_DATA`. `IFLA_BR_VLAN_FILTERING` is sent by every kernel, 0 when it
/// cannot filter; only a kernel built with `CONFIG_BRIDGE_VLAN_FILTERING` sends
/// `IFLA_BR_VLAN_PROTOCOL` and `IFLA_BR_VLAN_DEFAULT_PVID` with it, so without those the
/// answer is "not supported" (`None`), not "off" (see `bridge_port`).
fn bridge_info(opts: &[InfoBridge]) -> BridgeInfo {
    let mut b = BridgeInfo {
        stp_enabled: false,
        forward_delay_cs: 0,
        vlan_filtering: None,
    };
    let mut filtering = None;
    let mut supported = false;
    for o in opts {
        match o {
            InfoBridge::StpState(s) => b.stp_enabled = !matches!(s, BridgeStpState::Disabled),
            InfoBridge::ForwardDelay(d) => b.forward_delay_cs = *d,
            InfoBridge::VlanFiltering(on) => filtering = Some(*on),
            InfoBridge::VlanProtocol(_) | InfoBridge::VlanDefaultPvid(_) => supported = true,
            _ => {}
        }
    }
    b.vlan_filtering = filtering.filter(|_| supported);
    b
}

/// What the echo of a link creation tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Echoed {
    /// The created link's index.
    pub index: u32,
    /// A veth's peer index (`IFLA_LINK`, in the peer's namespace).
    pub peer_index: Option<u32>,
    /// The id the link's namespace gives the peer's namespace (`IFLA_LINK_NETNSID`), when the
    /// peer lives in another one.
    pub peer_nsid: Option<i32>,
}

/// The echo of the creation of link `name` among `replies`; `None` when no RTM_NEWLINK named
/// `name` came back (a kernel older than 6.3).
pub(crate) fn echoed_link(replies: &[RouteNetlinkMessage], name: &str) -> Option<Echoed> {
    replies.iter().find_map(|r| match r {
        RouteNetlinkMessage::NewLink(l)
            if l.header.index != 0
                && l.attributes
                    .iter()
                    .any(|a| matches!(a, LinkAttribute::IfName(n) if n == name)) =>
        {
            let mut echoed = Echoed {
                index: l.header.index,
                peer_index: None,
                peer_nsid: None,
            };
            for a in &l.attributes {
                match a {
                    LinkAttribute::Link(i) if *i != 0 => echoed.peer_index = Some(*i),
                    LinkAttribute::LinkNetNsId(id) if *id >= 0 => echoed.peer_nsid = Some(*id),
                    _ => {}
                }
            }
            Some(echoed)
        }
        _ => None,
    })
}

/// `net/ipv6/conf/IFNAME/disable_ipv6` names the interface IFNAME: that sysctl can be read from
/// the link's RTM_NEWLINK (see [`disable_ipv6`]). `all` and `default` are no interfaces.
pub(crate) fn disable_ipv6_iface(path: &str) -> Option<&str> {
    let name = path
        .strip_prefix("net/ipv6/conf/")?
        .strip_suffix("/disable_ipv6")?;
    let valid = !name.is_empty()
        && name.len() < 16
        && name != "all"
        && name != "default"
        && !name.contains(['/', '\0'])
        && name != "."
        && name != "..";
    valid.then_some(name)
}

/// The value `/proc/sys/net/ipv6/conf/NAME/disable_ipv6` shows, from the link's
/// `IFLA_AF_SPEC` → `AF_INET6` → `IFLA_INET6_CONF` (`DEVCONF_DISABLE_IPV6`). `None` when the
/// link has no IPv6 data: the kernel has IPv6 off, or the link has none (MTU below 1280), and
/// then the `/proc` file does not exist either.
pub(crate) fn disable_ipv6(msg: &LinkMessage) -> Option<i32> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::AfSpecUnspec(families) => families.iter().find_map(|f| match f {
            AfSpecUnspec::Inet6(attrs) => attrs.iter().find_map(|a| match a {
                AfSpecInet6::DevConf(conf) => Some(conf.disable_ipv6),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    })
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
            dadfailed: bits & libc::IFA_F_DADFAILED != 0,
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
pub(crate) mod tests {
    use super::*;
    use netlink_packet_core::{Emitable, Parseable};

    /// One netlink attribute as the kernel lays it out: length, type, value, padded to 4.
    pub(crate) fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize((out.len() + 3) & !3, 0);
        out
    }

    /// An RTM_NEWLINK body as the kernel sends it: ifinfomsg, then `attrs`.
    fn link_bytes(index: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![0u8, 0];
        b.extend_from_slice(&1u16.to_ne_bytes()); // ARPHRD_ETHER
        b.extend_from_slice(&index.to_ne_bytes());
        b.extend_from_slice(&0x1003u32.to_ne_bytes()); // UP | BROADCAST | MULTICAST
        b.extend_from_slice(&0u32.to_ne_bytes());
        for a in attrs {
            b.extend_from_slice(a);
        }
        b
    }

    fn parse(bytes: &[u8]) -> LinkMessage {
        LinkMessage::parse(bytes).expect("valid RTM_NEWLINK")
    }

    #[test]
    fn create_echo_request_is_byte_exact() {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName("vh0".into()));
        let msg = wrap(RouteNetlinkMessage::NewLink(m), CREATE_ECHO);
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        let mut want = Vec::new();
        want.extend_from_slice(&40u32.to_ne_bytes()); // nlmsg_len
        want.extend_from_slice(&16u16.to_ne_bytes()); // RTM_NEWLINK
                                                      // NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO | NLM_F_EXCL | NLM_F_CREATE
        want.extend_from_slice(&0x060du16.to_ne_bytes());
        want.extend_from_slice(&[0; 8]); // seq, pid: set by the connection
        want.extend_from_slice(&[0; 16]); // ifinfomsg
        want.extend_from_slice(&nla(3, b"vh0\0")); // IFLA_IFNAME
        assert_eq!(buf, want);
    }

    #[test]
    fn echoed_veth_gives_both_indices() {
        let echo = parse(&link_bytes(
            12,
            &[
                nla(3, b"vh0\0"),             // IFLA_IFNAME
                nla(5, &2u32.to_ne_bytes()),  // IFLA_LINK: the peer
                nla(37, &0i32.to_ne_bytes()), // IFLA_LINK_NETNSID
            ],
        ));
        let replies = [RouteNetlinkMessage::NewLink(echo)];
        assert_eq!(
            echoed_link(&replies, "vh0"),
            Some(Echoed {
                index: 12,
                peer_index: Some(2),
                peer_nsid: Some(0)
            })
        );
        assert_eq!(echoed_link(&replies, "vh1"), None);
        assert_eq!(echoed_link(&[], "vh0"), None);
        let bridge = parse(&link_bytes(5, &[nla(3, b"br0\0")]));
        let replies = [RouteNetlinkMessage::NewLink(bridge)];
        assert_eq!(
            echoed_link(&replies, "br0"),
            Some(Echoed {
                index: 5,
                peer_index: None,
                peer_nsid: None
            })
        );
    }

    #[test]
    fn disable_ipv6_sysctl_names_an_interface() {
        assert_eq!(
            disable_ipv6_iface("net/ipv6/conf/eth0/disable_ipv6"),
            Some("eth0")
        );
        for other in [
            "net/ipv6/conf/all/disable_ipv6",
            "net/ipv6/conf/default/disable_ipv6",
            "net/ipv6/conf//disable_ipv6",
            "net/ipv6/conf/a/b/disable_ipv6",
            "net/ipv6/conf/eth0/accept_dad",
            "net/ipv4/conf/eth0/disable_ipv6",
            "net/ipv6/conf/0123456789abcdef/disable_ipv6",
        ] {
            assert_eq!(disable_ipv6_iface(other), None, "{other}");
        }
    }

    #[test]
    fn disable_ipv6_is_read_from_inet6_devconf() {
        const DEVCONF_DISABLE_IPV6: usize = 26;
        let with = |disabled: i32| {
            let mut conf = vec![0i32; 64];
            conf[DEVCONF_DISABLE_IPV6] = disabled;
            let conf: Vec<u8> = conf.iter().flat_map(|v| v.to_ne_bytes()).collect();
            let inet6 = nla(10, &nla(2, &conf)); // AF_INET6 { IFLA_INET6_CONF }
            parse(&link_bytes(3, &[nla(3, b"eth0\0"), nla(26, &inet6)])) // IFLA_AF_SPEC
        };
        assert_eq!(disable_ipv6(&with(0)), Some(0));
        assert_eq!(disable_ipv6(&with(1)), Some(1));
        // No AF_INET6 in IFLA_AF_SPEC (IPv6 off in the kernel, or an MTU below 1280).
        let none = parse(&link_bytes(3, &[nla(3, b"eth0\0"), nla(26, &[])]));
        assert_eq!(disable_ipv6(&none), None);
        assert_eq!(disable_ipv6(&parse(&link_bytes(3, &[]))), None);
    }

    /// `IFLA_LINKINFO` with `IFLA_INFO_KIND` and, when given, more nested attributes.
    fn linkinfo(kind: &[u8], more: &[Vec<u8>]) -> Vec<u8> {
        let mut inner = nla(1, kind); // IFLA_INFO_KIND
        for m in more {
            inner.extend_from_slice(m);
        }
        nla(18, &inner) // IFLA_LINKINFO
    }

    #[test]
    fn vlan_filtering_is_unsupported_without_the_vlan_attributes() {
        // SPEC: L6
        let bridge = |data: &[Vec<u8>]| {
            let data: Vec<u8> = data.concat();
            let info = linkinfo(b"bridge\0", &[nla(2, &data)]); // IFLA_INFO_DATA
            parse_link(&parse(&link_bytes(5, &[nla(3, b"br0\0"), info]))).info
        };
        let filtering = |on: u8| nla(7, &[on]); // IFLA_BR_VLAN_FILTERING
        let default_pvid = nla(39, &1u16.to_ne_bytes()); // IFLA_BR_VLAN_DEFAULT_PVID

        // This project's kernel: VLAN_FILTERING 0 alone.
        let b = bridge(&[filtering(0)]).bridge.expect("a bridge");
        assert_eq!(b.vlan_filtering, None);
        let b = bridge(&[filtering(0), default_pvid.clone()]).bridge;
        assert_eq!(b.and_then(|b| b.vlan_filtering), Some(false));
        let b = bridge(&[filtering(1), default_pvid]).bridge;
        assert_eq!(b.and_then(|b| b.vlan_filtering), Some(true));
    }

    #[test]
    fn port_flags_come_from_the_bridge_slave_data() {
        // SPEC: L6
        let port = |data: &[Vec<u8>]| {
            let data: Vec<u8> = data.concat();
            let info = linkinfo(
                b"veth\0",
                &[nla(4, b"bridge\0"), nla(5, &data)], // IFLA_INFO_SLAVE_KIND, _DATA
            );
            parse_link(&parse(&link_bytes(7, &[nla(3, b"vh0\0"), info]))).info
        };
        let state = nla(1, &[3]); // IFLA_BRPORT_STATE forwarding
        let l = port(&[state.clone(), nla(4, &[1]), nla(33, &[0])]); // MODE, ISOLATED
        assert_eq!(l.port_state, Some(PortState::Forwarding));
        assert_eq!(
            l.port_flags,
            Some(PortFlags {
                hairpin: true,
                isolated: false
            })
        );
        let l = port(&[state, nla(4, &[0]), nla(33, &[1])]);
        assert_eq!(
            l.port_flags,
            Some(PortFlags {
                hairpin: false,
                isolated: true
            })
        );
        // Not a port: no flags at all.
        let veth = linkinfo(b"veth\0", &[]);
        let l = parse_link(&parse(&link_bytes(7, &[nla(3, b"vh0\0"), veth]))).info;
        assert_eq!(l.port_flags, None);
    }

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
