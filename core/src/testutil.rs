//! Scripted driving of machines in unit tests: expect a command, answer it, jump time.

use crate::machine::Machine;
use crate::types::{
    BridgeInfo, IfIndex, LinkFlags, LinkInfo, LinkKind, MacAddr, NetnsRef, PeerRef, PortFlags,
    PortState, Timestamp,
};
use crate::{BackendError, Command, Errno, Input, Op, Reply};

pub fn ns() -> NetnsRef {
    NetnsRef::Path("/run/netns/ctr1".into())
}

pub fn mac(last: u8) -> MacAddr {
    MacAddr([0x02, 0x42, 0xc0, 0x00, 0x02, last])
}

pub fn link(index: IfIndex, name: &str, up: bool) -> LinkInfo {
    LinkInfo {
        index,
        name: name.into(),
        kind: LinkKind::Veth,
        flags: LinkFlags {
            up,
            lower_up: up,
            running: up,
        },
        mac: Some(mac(0xee)),
        mtu: 1500,
        master: None,
        peer: None,
        bridge: None,
        port_state: None,
        port_flags: None,
        ipv6_disabled: Some(false),
        stats: None,
    }
}

pub fn veth_in_ns(index: IfIndex, name: &str, peer: IfIndex, m: MacAddr) -> LinkInfo {
    LinkInfo {
        mac: Some(m),
        peer: Some(PeerRef {
            netns: Some(NetnsRef::Host),
            index: peer,
        }),
        ..link(index, name, true)
    }
}

pub fn port(index: IfIndex, master: IfIndex, state: PortState) -> LinkInfo {
    LinkInfo {
        master: Some(master),
        port_state: Some(state),
        port_flags: Some(PortFlags::default()),
        ..link(index, "vhost", true)
    }
}

pub fn bridge(index: IfIndex, stp: bool) -> LinkInfo {
    LinkInfo {
        kind: LinkKind::Bridge,
        bridge: Some(BridgeInfo {
            stp_enabled: stp,
            forward_delay_cs: 1500,
            vlan_filtering: Some(false),
        }),
        ..link(index, "br0", true)
    }
}

pub fn err(op: Op, errno: Errno) -> Result<Reply, BackendError> {
    Err(BackendError::new(op, errno, &ns(), "eth0"))
}

/// A machine under a scripted kernel: every command must be expected, in order.
pub struct Script<M> {
    pub m: M,
    pub now: Timestamp,
    pub log: Vec<Command>,
}

impl<M: Machine> Script<M> {
    pub fn new(m: M) -> Self {
        Script {
            m,
            now: Timestamp::ZERO,
            log: Vec::new(),
        }
    }

    /// Take the next command; panics if there is none.
    pub fn next(&mut self) -> Command {
        let c = self
            .m
            .poll_command()
            .unwrap_or_else(|| panic!("expected a command after {:#?}", self.log.last()));
        self.log.push(c.clone());
        c
    }

    /// Take the next command, check it is exactly `expected` (every namespace, name, index
    /// and value), answer `reply`.
    #[track_caller]
    pub fn step(
        &mut self,
        what: &str,
        expected: impl Into<Command>,
        reply: Result<Reply, BackendError>,
    ) {
        let c = self.next();
        assert_eq!(c, expected.into(), "step {what:?}");
        self.m.handle_input(self.now, Input::Reply(reply));
    }

    /// [`Script::step`] answered with success.
    #[track_caller]
    pub fn ok(&mut self, what: &str, expected: impl Into<Command>) {
        self.step(what, expected, Ok(Reply::Done));
    }

    /// Jump to the machine's deadline and fire it.
    pub fn fire_timer(&mut self) -> Timestamp {
        let t = self.m.poll_timeout().expect("a deadline");
        assert!(t >= self.now);
        self.now = t;
        self.m.handle_timeout(t);
        t
    }

    pub fn idle(&mut self) -> bool {
        let c = self.m.poll_command();
        assert!(c.is_none(), "unexpected command {c:#?}");
        true
    }

    pub fn events(&mut self) -> Vec<crate::Event> {
        std::iter::from_fn(|| self.m.poll_event()).collect()
    }
}
