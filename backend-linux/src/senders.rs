//! Announcements (SPEC S2, S3): the cached ARP (`AF_PACKET`) and NA (raw ICMPv6) sockets of a
//! namespace, and the sends; the sockets themselves are built in `announce`.

use crate::announce;
use crate::conn::Inner;
use crate::netns::{in_netns, NsFile, NsKey};
use crate::{io_errno, lock, LinuxBackend};
use nsplumb_core::{BackendError, IfIndex, MacAddr, NetnsRef, Op};
use socket2::Socket;
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use tracing::Instrument;

/// Sender sockets serve the few announcements of one attach (at most 3, 2 s apart).
pub(crate) const SENDER_IDLE: std::time::Duration = std::time::Duration::from_secs(15);

/// A sender socket and when it was last used.
pub(crate) struct Sender {
    pub(crate) sock: Arc<Socket>,
    pub(crate) used: std::time::Instant,
}

/// Drops the senders idle past [`SENDER_IDLE`] and returns their sockets: an NA socket closes
/// at once, an ARP socket's last close is for [`close_packet_sockets`].
pub(crate) fn prune_senders<K>(map: &mut HashMap<K, Sender>) -> Vec<Arc<Socket>> {
    let mut idle = Vec::new();
    map.retain(|_, s| {
        let keep = s.used.elapsed() < SENDER_IDLE;
        if !keep {
            idle.push(s.sock.clone());
        }
        keep
    });
    idle
}

/// Closes ARP (`AF_PACKET`) sockets on a thread of their own: each last close waits for an RCU
/// grace period (~20 ms), which must not stall a tokio worker (nor sit in the blocking pool,
/// whose threads linger for 10 s after).
pub(crate) fn close_packet_sockets(socks: Vec<Arc<Socket>>) {
    if socks.is_empty() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("nsplumb-close".into())
        .spawn(move || drop(socks));
}

impl Inner {
    /// Drops the NA senders of a link that is leaving namespace `key` (deleted or moved out):
    /// nothing will be announced from there again, and a veth's ifindex is new every time.
    pub(crate) fn forget_link_senders(&self, key: NsKey, index: u32) {
        lock(&self.na).retain(|(k, i, _), _| !(*k == key && *i == index));
    }

    /// The spare NA socket of `ns`'s live connection, if not taken yet.
    pub(crate) fn take_na_spare(&self, ns: &NsFile) -> Option<Socket> {
        let mut conns = lock(&self.conns);
        let c = conns.get_mut(&ns.key).filter(|c| !c.task.is_finished())?;
        c.spares.na.take()
    }
}

impl LinuxBackend {
    /// The descriptors of the cached ARP (`AF_PACKET`) sockets. The last close of such a
    /// socket waits for an RCU grace period (`packet_release` calls `synchronize_net`: 6–20 ms
    /// on a 2-vCPU VM), and a one-command process pays it in its exit, which its caller waits
    /// for. A process that starts a longer-lived child can let the child inherit these, so that
    /// its own exit is not the last close (the CNI plugin's ADD does, see its announcer).
    pub fn packet_socket_fds(&self) -> Vec<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        lock(&self.inner.packet)
            .values()
            .map(|s| s.sock.as_raw_fd())
            .collect()
    }

    pub(crate) async fn packet_socket(&self, ns: &NsFile) -> io::Result<Arc<Socket>> {
        {
            let mut map = lock(&self.inner.packet);
            if let Some(s) = map.get_mut(&ns.key) {
                s.used = std::time::Instant::now();
                return Ok(s.sock.clone());
            }
            close_packet_sockets(prune_senders(&mut map));
        }
        let sock = Arc::new(in_netns(ns, announce::open_packet).await?);
        let used = std::time::Instant::now();
        let entry = Sender {
            sock: sock.clone(),
            used,
        };
        lock(&self.inner.packet).insert(ns.key, entry);
        Ok(sock)
    }

    pub(crate) async fn na_socket(
        &self,
        ns: &NsFile,
        index: u32,
        src: Ipv6Addr,
    ) -> io::Result<Arc<Socket>> {
        let key = (ns.key, index, src);
        {
            let mut map = lock(&self.inner.na);
            if let Some(s) = map.get_mut(&key) {
                s.used = std::time::Instant::now();
                return Ok(s.sock.clone());
            }
            drop(prune_senders(&mut map));
        }
        let sock = match self.inner.take_na_spare(ns) {
            Some(s) => {
                announce::setup_na(&s, index, src)?;
                s
            }
            None => in_netns(ns, move || announce::open_na(index, src)).await?,
        };
        let sock = Arc::new(sock);
        let used = std::time::Instant::now();
        let entry = Sender {
            sock: sock.clone(),
            used,
        };
        lock(&self.inner.na).insert(key, entry);
        Ok(sock)
    }

    pub(crate) async fn send_arp(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv4Addr,
    ) -> Result<(), BackendError> {
        let op = Op::SendArp;
        let ns = self.ns(op, netns)?;
        let frame = nsplumb_wire::arp_announcement(mac, addr);
        let span = tracing::debug_span!("send_arp", ifindex = index, mac = %mac, addr = %addr, netns = %netns);
        let res = async {
            let sock = self.packet_socket(&ns).await?;
            announce::send_packet(&sock, index, &frame)
        }
        .instrument(span)
        .await;
        match res {
            Ok(()) => Ok(()),
            Err(e) => {
                let object = format!("{addr} on {}", self.inner.describe(&ns, index).await);
                Err(BackendError::new(op, io_errno(&e), netns, object))
            }
        }
    }

    pub(crate) async fn send_na(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv6Addr,
    ) -> Result<(), BackendError> {
        let op = Op::SendNa;
        let ns = self.ns(op, netns)?;
        let body = nsplumb_wire::na_body(mac, addr);
        let span = tracing::debug_span!("send_na", ifindex = index, mac = %mac, addr = %addr, netns = %netns);
        let res = async {
            let sock = self.na_socket(&ns, index, addr).await?;
            match announce::send_na(&sock, index, &body) {
                Ok(()) => Ok(()),
                Err(e) => {
                    // A cached socket can go stale (link recreated, address re-added): drop it
                    // and try once with a fresh one.
                    lock(&self.inner.na).remove(&(ns.key, index, addr));
                    tracing::debug!(error = %e, "NA send failed, retrying with a new socket");
                    let sock = self.na_socket(&ns, index, addr).await?;
                    announce::send_na(&sock, index, &body)
                }
            }
        }
        .instrument(span)
        .await;
        match res {
            Ok(()) => Ok(()),
            Err(e) => {
                lock(&self.inner.na).remove(&(ns.key, index, addr));
                let object = format!("{addr} on {}", self.inner.describe(&ns, index).await);
                Err(BackendError::new(op, io_errno(&e), netns, object))
            }
        }
    }
}
