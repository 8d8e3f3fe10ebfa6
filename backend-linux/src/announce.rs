//! Sender sockets for unsolicited ARP (SPEC S2) and neighbour advertisements (SPEC S3).
//!
//! The `open_*` functions run on a namespace thread (see [`crate::netns::in_netns`]); the
//! sockets they return stay in that namespace for their whole life and are used from tokio with
//! non-blocking sends.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

const ICMP6_FILTER: libc::c_int = 1;
const IPV6_AUTOFLOWLABEL: libc::c_int = 70;

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the given size for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// An `AF_PACKET` raw socket that never receives (protocol 0): frames are sent with `sendto`
/// naming the interface. One per namespace is enough.
pub(crate) fn open_packet() -> io::Result<Socket> {
    let s = Socket::new(Domain::PACKET, Type::RAW.cloexec(), None)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Send one Ethernet `frame` out of `ifindex` (destination MAC taken from the frame).
pub(crate) fn send_packet(sock: &Socket, ifindex: u32, frame: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; zero is a valid bit pattern.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = u16::from_be_bytes([frame[12], frame[13]]).to_be();
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: the pointers and lengths describe live buffers.
    let rc = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            libc::MSG_DONTWAIT,
            (&sll as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A raw ICMPv6 socket for NA from `src` out of `ifindex`: receives nothing (ICMP6_FILTER blocks
/// every type), hop limits 255, automatic flow labels off, egress pinned to `ifindex`, bound to
/// `src`.
pub(crate) fn open_na(ifindex: u32, src: Ipv6Addr) -> io::Result<Socket> {
    let s = open_na_socket()?;
    setup_na(&s, ifindex, src)?;
    Ok(s)
}

/// The part of [`open_na`] that must run inside the namespace: the socket, with its receive
/// filter blocking every type from the start, so it never queues anything.
pub(crate) fn open_na_socket() -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::RAW.cloexec(), Some(Protocol::ICMPV6))?;
    // struct icmp6_filter: a bit set means "block" (ICMP6_FILTER_SETBLOCKALL).
    let block_all = [u32::MAX; 8];
    setsockopt(
        s.as_raw_fd(),
        libc::IPPROTO_ICMPV6,
        ICMP6_FILTER,
        &block_all,
    )?;
    Ok(s)
}

/// The rest of [`open_na`], on any thread: the interface and the address are looked up in the
/// socket's own namespace.
pub(crate) fn setup_na(s: &Socket, ifindex: u32, src: Ipv6Addr) -> io::Result<()> {
    let fd = s.as_raw_fd();
    s.set_unicast_hops_v6(255)?;
    s.set_multicast_hops_v6(255)?;
    s.set_multicast_if_v6(ifindex)?;
    // Flow label 0, so the frame is exactly nsplumb_wire::na_frame. Old kernels lack it: fine.
    let _ = setsockopt(fd, libc::IPPROTO_IPV6, IPV6_AUTOFLOWLABEL, &0i32);
    let scope = if is_link_local(src) { ifindex } else { 0 };
    s.bind(&SockAddr::from(SocketAddrV6::new(src, 0, 0, scope)))?;
    s.set_nonblocking(true)?;
    Ok(())
}

pub(crate) fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Send the NA `body` to `ff02::1` on `ifindex`.
pub(crate) fn send_na(sock: &Socket, ifindex: u32, body: &[u8]) -> io::Result<()> {
    let dst = SockAddr::from(SocketAddrV6::new(nsplumb_wire::ALL_NODES, 0, 0, ifindex));
    sock.send_to_with_flags(body, &dst, libc::MSG_DONTWAIT)
        .map(|_| ())
}
