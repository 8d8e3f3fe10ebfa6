//! The host's ping, timed to the millisecond: ICMP echo requests from the test's host namespace
//! every few milliseconds until the first reply. This is how the tests and the benchmark see
//! how long a host keeps a stale neighbour entry for a reused address (SPEC C5): a `ping`
//! process per try would add its start-up time and round the answer to its own interval.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pnet_packet::icmp::echo_reply::EchoReplyPacket;
use pnet_packet::icmp::echo_request::MutableEchoRequestPacket;
use pnet_packet::icmp::{checksum, IcmpPacket, IcmpTypes};
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::Packet;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::{HarnessError, Result};

/// A raw ICMP socket pinging one IPv4 address with its own identifier.
pub struct EchoProbe {
    socket: Socket,
    target: Ipv4Addr,
    ident: u16,
    seq: u16,
}

impl EchoProbe {
    pub fn new(target: Ipv4Addr) -> Result<EchoProbe> {
        let socket =
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).map_err(|source| {
                HarnessError::Io {
                    op: "open raw ICMP socket to ping",
                    path: target.to_string().into(),
                    source,
                }
            })?;
        Ok(EchoProbe {
            socket,
            target,
            ident: rand::random(),
            seq: 0,
        })
    }

    fn send(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        let mut buf = [0u8; 16];
        let mut req = MutableEchoRequestPacket::new(&mut buf).expect("echo buffer size");
        req.set_icmp_type(IcmpTypes::EchoRequest);
        req.set_identifier(self.ident);
        req.set_sequence_number(self.seq);
        let sum = checksum(&IcmpPacket::new(req.packet()).expect("icmp view"));
        req.set_checksum(sum);
        let to = SockAddr::from(SocketAddrV4::new(self.target, 0));
        // No route or a FAILED neighbour is an unanswered try, like a lost reply.
        let _ = self.socket.send_to(&buf, &to);
    }

    /// Wait up to `window` for a reply to this probe; true if one came.
    fn await_reply(&self, window: Duration) -> bool {
        let until = Instant::now() + window;
        let mut buf = [0u8; 1500];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.socket.set_read_timeout(Some(left));
            let Ok(n) = (&self.socket).read(&mut buf) else {
                return false;
            };
            if self.is_our_reply(&buf[..n]) {
                return true;
            }
        }
    }

    fn is_our_reply(&self, datagram: &[u8]) -> bool {
        let Some(ip) = Ipv4Packet::new(datagram) else {
            return false;
        };
        if ip.get_source() != self.target {
            return false;
        }
        let Some(reply) = EchoReplyPacket::new(ip.payload()) else {
            return false;
        };
        reply.get_icmp_type() == IcmpTypes::EchoReply && reply.get_identifier() == self.ident
    }

    /// Ping every `interval` until a reply arrives (its instant) or `within` has passed
    /// (`None`), or `stop` is set.
    pub fn until_answered(
        &mut self,
        interval: Duration,
        within: Duration,
        stop: &AtomicBool,
    ) -> Option<Instant> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            self.send();
            if self.await_reply(interval) {
                return Some(Instant::now());
            }
        }
        None
    }
}

/// An [`EchoProbe`] on its own thread, started before the event it times (an ADD).
pub struct BackgroundProbe {
    handle: JoinHandle<Option<Instant>>,
    stop: Arc<AtomicBool>,
}

impl BackgroundProbe {
    pub fn start(target: Ipv4Addr, interval: Duration, within: Duration) -> Result<Self> {
        let mut probe = EchoProbe::new(target)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || probe.until_answered(interval, within, &flag));
        Ok(BackgroundProbe { handle, stop })
    }

    /// The instant of the first reply, or `None` if none came in time.
    pub fn join(self) -> Option<Instant> {
        self.handle.join().expect("probe thread")
    }

    /// Stop early (the event failed); returns what was seen.
    pub fn cancel(self) -> Option<Instant> {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }
}

/// Ping `target` until answered within `within`: whether it answered.
pub fn answers(target: Ipv4Addr, within: Duration) -> Result<bool> {
    let mut probe = EchoProbe::new(target)?;
    let never = AtomicBool::new(false);
    Ok(probe
        .until_answered(Duration::from_millis(20), within, &never)
        .is_some())
}
