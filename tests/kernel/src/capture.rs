//! Frame capture inside a namespace: `AF_PACKET`/`ETH_P_ALL` sockets with kernel receive
//! timestamps, a background [`Recorder`], and announcement helpers over `nsplumb_wire`.
//!
//! A [`Capture`] is bound to one interface (or every interface of its namespace) and keeps only
//! frames the interface *received*: frames it sent (`PACKET_OUTGOING`, e.g. a bridge flooding
//! a frame out of another port) are dropped, so a capture on a host-side veth sees exactly what
//! the container end put on the wire, and a capture on a bridge sees what reached the bridge.
//!
//! Times are the kernel's receive timestamps (`SO_TIMESTAMPNS`) mapped onto [`Instant`], so they
//! compare with `Instant::now()` taken around a call and do not include the reader's wake-up.
//! Use only inside [`crate::privilege::enter`]'s child.

use crate::fixture::in_ns;
use nsplumb_core::{MacAddr, NetnsRef};
use nsplumb_wire::{parse_frame, Announcement};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Kernel receive time.
    pub at: Instant,
    /// The interface it was received on.
    pub ifindex: u32,
    /// `PACKET_HOST`, `PACKET_BROADCAST`, `PACKET_MULTICAST` or `PACKET_OTHERHOST`.
    pub pkttype: u8,
    /// The whole Ethernet frame, header included (padding too, if any).
    pub data: Vec<u8>,
}

impl Frame {
    /// The ARP packet or neighbour advertisement in this frame, every field kept.
    pub fn announcement(&self) -> Option<Announcement> {
        parse_frame(&self.data)
    }

    /// The Ethernet source address.
    pub fn eth_src(&self) -> Option<MacAddr> {
        let b: [u8; 6] = self.data.get(6..12)?.try_into().ok()?;
        Some(MacAddr(b))
    }

    /// The EtherType (0x0806 ARP, 0x86dd IPv6, ...).
    pub fn ethertype(&self) -> Option<u16> {
        let b = self.data.get(12..14)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    /// The ICMPv6 type, when this is an untagged IPv6 frame whose first header is ICMPv6.
    pub fn icmpv6_type(&self) -> Option<u8> {
        if self.ethertype()? != nsplumb_wire::ETHERTYPE_IPV6
            || *self.data.get(14 + 6)? != nsplumb_wire::IPPROTO_ICMPV6
        {
            return None;
        }
        self.data.get(14 + 40).copied()
    }

    /// An ARP packet from `mac` (Ethernet source), any operation, any address.
    pub fn is_arp_from(&self, mac: MacAddr) -> bool {
        matches!(self.announcement(), Some(Announcement::Arp { eth_src, .. }) if eth_src == mac)
    }

    /// A neighbour advertisement from `mac` (Ethernet source), any target.
    pub fn is_na_from(&self, mac: MacAddr) -> bool {
        matches!(self.announcement(), Some(Announcement::Na { eth_src, .. }) if eth_src == mac)
    }

    /// An ARP packet announcing or asking about `ip` (sender or target address), any MAC.
    pub fn is_arp_about(&self, ip: Ipv4Addr) -> bool {
        matches!(self.announcement(),
            Some(Announcement::Arp { sender_ip, target_ip, .. }) if sender_ip == ip || target_ip == ip)
    }

    /// A neighbour advertisement for target `ip`, any MAC.
    pub fn is_na_for(&self, ip: Ipv6Addr) -> bool {
        matches!(self.announcement(),
            Some(Announcement::Na { message, .. }) if message.target == ip)
    }
}

/// An `AF_PACKET`/`ETH_P_ALL` socket inside a namespace, bound to one interface (or, with
/// ifindex 0, every interface of the namespace), receiving with kernel timestamps.
#[derive(Debug)]
pub struct Capture {
    fd: OwnedFd,
    ifindex: u32,
}

fn check(rc: libc::c_int, what: &str) {
    assert!(rc >= 0, "{what}: {}", std::io::Error::last_os_error());
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
    what: &str,
) {
    // SAFETY: a valid c_int of the declared size for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(rc, what);
}

impl Capture {
    /// A capture on `ifindex` in `ns` (0: all interfaces). Frames are queued from this moment;
    /// panics when the socket cannot be opened.
    pub fn open(ns: &NetnsRef, ifindex: u32) -> Capture {
        let fd = in_ns(ns, move || {
            let proto = (libc::ETH_P_ALL as u16).to_be();
            // SAFETY: plain socket(2) call.
            let fd = unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    i32::from(proto),
                )
            };
            check(fd, "capture socket");
            // SAFETY: fd was just created and is owned here.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let raw = fd.as_raw_fd();
            setsockopt_int(
                raw,
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                1,
                "SO_TIMESTAMPNS",
            );
            // Room for bursts: nothing may be lost while a test is busy elsewhere.
            setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20, "SO_RCVBUF");
            // SAFETY: sockaddr_ll is plain old data.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = proto;
            sll.sll_ifindex = ifindex as i32;
            // SAFETY: valid pointer/length pair.
            let rc = unsafe {
                libc::bind(
                    raw,
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            check(rc, "bind capture");
            fd
        });
        Capture { fd, ifindex }
    }

    /// A capture on the interface called `name` in `ns`.
    pub fn open_name(ns: &NetnsRef, name: &str) -> Capture {
        let owned = std::ffi::CString::new(name).expect("interface name");
        let index = in_ns(ns, move || {
            // SAFETY: a NUL-terminated string.
            unsafe { libc::if_nametoindex(owned.as_ptr()) }
        });
        assert!(index != 0, "no interface {name:?} in {ns}");
        Capture::open(ns, index)
    }

    /// The interface this capture is bound to (0: all).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The next received frame within `timeout` (outgoing frames are skipped).
    pub fn recv(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(frame) = self.try_recv() {
                if frame.pkttype != libc::PACKET_OUTGOING {
                    return Some(frame);
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, 50) as libc::c_int;
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, ms) };
        }
    }

    /// Frames received (not sent) until `pred` accepts one, or `None` after `timeout`
    /// (the interface of the older local capture helpers).
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self.recv(left)?;
            if pred(&frame.data) {
                return Some(frame.data);
            }
        }
    }

    /// Everything received and queued right now.
    pub fn drain(&self) -> Vec<Frame> {
        std::iter::from_fn(|| self.try_recv())
            .filter(|f| f.pkttype != libc::PACKET_OUTGOING)
            .collect()
    }

    /// Record every received frame on a background thread from now on.
    pub fn record(self) -> Recorder {
        Recorder::start(self)
    }

    /// One frame if one is queued (any packet type), without waiting.
    fn try_recv(&self) -> Option<Frame> {
        let mut buf = vec![0u8; 65536];
        // SAFETY: sockaddr_ll is plain old data.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // u64 elements keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; 16];
        // SAFETY: msghdr is plain old data; every pointer below outlives the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: msg describes live buffers.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return None;
        }
        let now_mono = Instant::now();
        let now_real = SystemTime::now();
        let mut at = now_mono;
        // SAFETY: walking the control messages the kernel wrote into `control`.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    let stamp = UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
                    let age = now_real.duration_since(stamp).unwrap_or_default();
                    at = now_mono.checked_sub(age).unwrap_or(now_mono);
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        buf.truncate(n as usize);
        Some(Frame {
            at,
            ifindex: from.sll_ifindex as u32,
            pkttype: from.sll_pkttype,
            data: buf,
        })
    }
}

struct Shared {
    frames: Mutex<Vec<Frame>>,
    arrived: Condvar,
    stop: AtomicBool,
}

/// A [`Capture`] read on a background thread into a list, until dropped or stopped.
pub struct Recorder {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    ifindex: u32,
}

impl Recorder {
    fn start(capture: Capture) -> Recorder {
        let shared = Arc::new(Shared {
            frames: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let ifindex = capture.ifindex;
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                while !s.stop.load(Ordering::SeqCst) {
                    if let Some(frame) = capture.recv(Duration::from_millis(20)) {
                        lock(&s.frames).push(frame);
                        s.arrived.notify_all();
                    }
                }
            })
            .expect("capture thread");
        Recorder {
            shared,
            thread: Some(thread),
            ifindex,
        }
    }

    /// The interface recorded (0: all).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// A copy of every frame recorded so far, in arrival order.
    pub fn frames(&self) -> Vec<Frame> {
        lock(&self.shared.frames).clone()
    }

    /// The recorded frames `keep` accepts.
    pub fn matching(&self, keep: impl Fn(&Frame) -> bool) -> Vec<Frame> {
        lock(&self.shared.frames)
            .iter()
            .filter(|f| keep(f))
            .cloned()
            .collect()
    }

    /// Forget what was recorded so far.
    pub fn clear(&self) {
        lock(&self.shared.frames).clear();
    }

    /// Wait until `done` holds for the recorded frames, at most `timeout`; whether it held.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&[Frame]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut frames = lock(&self.shared.frames);
        loop {
            if done(&frames) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            frames = self
                .shared
                .arrived
                .wait_timeout(frames, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The first recorded frame `pred` accepts, waiting at most `timeout` for it.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
        let mut found = None;
        self.wait_until(timeout, |frames| {
            found = frames.iter().find(|f| pred(f)).cloned();
            found.is_some()
        });
        found
    }

    /// Stop recording; every frame recorded.
    pub fn stop(mut self) -> Vec<Frame> {
        self.halt();
        std::mem::take(&mut *lock(&self.shared.frames))
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.halt();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
