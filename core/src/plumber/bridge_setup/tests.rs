//! The bridge setup against a scripted kernel: every request, in order, with its values.

use super::*;
use crate::backend::MockNetBackend;
use crate::command::Reply;
use crate::testutil::{bridge, link, mac};
use crate::types::{AddrFlags, AddrInfo, Timestamp};
use crate::Op;
use futures::executor::block_on;
use mockall::predicate::eq;
use mockall::Sequence;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

fn ready<T: Send + 'static>(value: T) -> Pin<Box<dyn Future<Output = T> + Send>> {
    Box::pin(std::future::ready(value))
}

/// A scripted backend: each request expected once, in order.
struct Kernel {
    backend: MockNetBackend,
    seq: Sequence,
}

impl Kernel {
    fn new() -> Kernel {
        let mut backend = MockNetBackend::new();
        backend.expect_now().return_const(Timestamp::ZERO);
        Kernel {
            backend,
            seq: Sequence::new(),
        }
    }

    fn expect(&mut self, request: Request, reply: Result<Reply, BackendError>) -> &mut Kernel {
        self.backend
            .expect_execute()
            .with(eq(request))
            .times(1)
            .in_sequence(&mut self.seq)
            .returning(move |_| ready(reply.clone()));
        self
    }

    fn plumber(self) -> Plumber<MockNetBackend> {
        Plumber::new(
            Arc::new(self.backend),
            Arc::new(|_f| panic!("no background work")),
        )
    }
}

fn host() -> NetnsRef {
    NetnsRef::Host
}

fn fail(op: Op, errno: Errno, object: &str) -> Result<Reply, BackendError> {
    Err(BackendError::new(op, errno, &host(), object))
}

fn br(index: u32, up: bool) -> LinkInfo {
    LinkInfo {
        name: "cni0".into(),
        flags: link(index, "cni0", up).flags,
        mac: Some(mac(0x10)),
        ..bridge(index, false)
    }
}

fn addr(index: u32, net: &str) -> AddrInfo {
    AddrInfo {
        index,
        net: net.parse().unwrap(),
        flags: AddrFlags::default(),
    }
}

fn plan() -> BridgePlan {
    BridgePlan {
        name: "cni0".into(),
        options: BridgeOptions {
            vlan_filtering: false,
            mtu: Some(1400),
        },
        addresses: vec!["192.0.2.1/24".parse().unwrap()],
        force_address: false,
        forward_ipv4: true,
        forward_ipv6: false,
    }
}

fn lookup() -> Request {
    Request::LinkByName {
        netns: host(),
        name: "cni0".into(),
    }
}

fn read(path: &str) -> Request {
    Request::ReadSysctl {
        netns: host(),
        path: path.into(),
    }
}

fn write(path: &str, value: &str) -> Request {
    Request::WriteSysctl {
        netns: host(),
        path: path.into(),
        value: value.into(),
    }
}

fn add(index: u32, net: &str) -> Request {
    Request::AddAddress {
        netns: host(),
        index,
        net: net.parse().unwrap(),
        nodad: true,
    }
}

const ACCEPT_RA: &str = "net/ipv6/conf/cni0/accept_ra";

// SPEC: C3 (the bridge created with its options, MAC pinned, accept_ra 0, up, the gateway
// address, forwarding on), C4 (a bridge this setup created is deleted by its undo)
#[test]
fn an_absent_bridge_is_created_pinned_set_up_with_its_gateway_and_forwarding() {
    let mut k = Kernel::new();
    k.expect(lookup(), fail(Op::GetLink, Errno::ENODEV, "cni0"))
        .expect(
            Request::CreateBridge {
                netns: host(),
                name: "cni0".into(),
                options: plan().options,
            },
            Ok(Reply::Index(9)),
        )
        .expect(
            Request::LinkByIndex {
                netns: host(),
                index: 9,
            },
            Ok(Reply::Link(br(9, false))),
        )
        .expect(
            Request::SetMac {
                netns: host(),
                index: 9,
                mac: mac(0x10),
            },
            Ok(Reply::Done),
        )
        .expect(read(ACCEPT_RA), Ok(Reply::Value("1".into())))
        .expect(write(ACCEPT_RA, "0"), Ok(Reply::Done))
        .expect(
            Request::SetLinkUp {
                netns: host(),
                index: 9,
            },
            Ok(Reply::Done),
        )
        .expect(
            Request::ListAddresses {
                netns: host(),
                index: Some(9),
            },
            Ok(Reply::Addresses(vec![addr(9, "fe80::1/64")])),
        )
        .expect(add(9, "192.0.2.1/24"), Ok(Reply::Done))
        .expect(read(IPV4_FORWARD), Ok(Reply::Value("0".into())))
        .expect(write(IPV4_FORWARD, "1"), Ok(Reply::Done))
        .expect(
            Request::LinkByIndex {
                netns: host(),
                index: 9,
            },
            Ok(Reply::Link(br(9, true))),
        )
        // The undo: deleting the bridge takes its addresses and settings along.
        .expect(
            Request::DeleteLinks {
                netns: host(),
                indices: vec![9],
            },
            Ok(Reply::Done),
        );
    let p = k.plumber();
    let setup = block_on(p.ensure_bridge(&plan())).unwrap();
    assert!(setup.created && setup.bridge.flags.up);
    assert_eq!(setup.forwarding_enabled, [IPV4_FORWARD]);
    assert!(setup.changed_the_bridge());
    block_on(p.undo_bridge_setup(setup)).unwrap();
}

// SPEC: C3 (reused as it is: nothing written when everything is already so)
#[test]
fn a_ready_bridge_is_reused_without_a_single_write() {
    let mut k = Kernel::new();
    k.expect(lookup(), Ok(Reply::Link(br(9, true))))
        .expect(read(ACCEPT_RA), Ok(Reply::Value("0".into())))
        .expect(
            Request::ListAddresses {
                netns: host(),
                index: Some(9),
            },
            Ok(Reply::Addresses(vec![addr(9, "192.0.2.1/24")])),
        )
        .expect(read(IPV4_FORWARD), Ok(Reply::Value("1".into())))
        .expect(
            Request::LinkByIndex {
                netns: host(),
                index: 9,
            },
            Ok(Reply::Link(br(9, true))),
        );
    let setup = block_on(k.plumber().ensure_bridge(&plan())).unwrap();
    assert!(!setup.created && !setup.changed_the_bridge());
    assert!(setup.forwarding_enabled.is_empty());
}

// SPEC: C11 (two ADDs create the same bridge at once: EEXIST is "exists")
#[test]
fn a_bridge_created_by_someone_else_in_between_is_looked_up_again() {
    let mut k = Kernel::new();
    let mut quiet = plan();
    quiet.addresses.clear();
    quiet.forward_ipv4 = false;
    k.expect(lookup(), fail(Op::GetLink, Errno::ENODEV, "cni0"))
        .expect(
            Request::CreateBridge {
                netns: host(),
                name: "cni0".into(),
                options: quiet.options,
            },
            fail(Op::CreateBridge, Errno::EEXIST, "cni0"),
        )
        .expect(lookup(), Ok(Reply::Link(br(9, true))))
        .expect(
            read(ACCEPT_RA),
            fail(Op::ReadSysctl, Errno::ENOENT, ACCEPT_RA),
        )
        .expect(
            Request::LinkByIndex {
                netns: host(),
                index: 9,
            },
            Ok(Reply::Link(br(9, true))),
        );
    let setup = block_on(k.plumber().ensure_bridge(&quiet)).unwrap();
    assert!(!setup.created, "the other process created it");
}

// SPEC: C3 (a name held by another kind of link: an error, nothing touched)
#[test]
fn a_link_of_another_kind_under_the_bridge_name_is_an_error() {
    let mut k = Kernel::new();
    k.expect(lookup(), Ok(Reply::Link(link(4, "cni0", true))));
    let e = block_on(k.plumber().ensure_bridge(&plan())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "link \"cni0\" exists in the host namespace and is a veth, not a bridge"
    );
}

// SPEC: C3 (forceAddress as the bridge plugin's ensureAddr), C4 (the undo puts the bridge
// back as it was found)
#[test]
fn a_conflicting_address_fails_without_force_address_and_is_replaced_with_it() {
    let listed = Request::ListAddresses {
        netns: host(),
        index: Some(9),
    };
    let present = vec![
        addr(9, "198.51.100.1/24"),
        addr(9, "fd00:1::1/64"),
        addr(3, "192.0.2.99/24"),
    ];
    // Without forceAddress: an error naming both; accept_ra is put back.
    let mut k = Kernel::new();
    k.expect(lookup(), Ok(Reply::Link(br(9, true))))
        .expect(read(ACCEPT_RA), Ok(Reply::Value("2".into())))
        .expect(write(ACCEPT_RA, "0"), Ok(Reply::Done))
        .expect(listed.clone(), Ok(Reply::Addresses(present.clone())))
        .expect(write(ACCEPT_RA, "2"), Ok(Reply::Done));
    let e = block_on(k.plumber().ensure_bridge(&plan())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bridge \"cni0\" already has the address 198.51.100.1/24 where 192.0.2.1/24 is asked \
         (forceAddress replaces it)"
    );

    // With it: the other IPv4 address goes, the IPv6 one of another subnet stays, the MAC is
    // pinned; the undo reverses each step, last first.
    let mut forced = plan();
    forced.force_address = true;
    forced.forward_ipv4 = false;
    let mut k = Kernel::new();
    k.expect(lookup(), Ok(Reply::Link(br(9, true))))
        .expect(read(ACCEPT_RA), Ok(Reply::Value("0".into())))
        .expect(listed, Ok(Reply::Addresses(present)))
        .expect(
            Request::DelAddress {
                netns: host(),
                index: 9,
                net: "198.51.100.1/24".parse().unwrap(),
            },
            Ok(Reply::Done),
        )
        .expect(add(9, "192.0.2.1/24"), Ok(Reply::Done))
        .expect(
            Request::SetMac {
                netns: host(),
                index: 9,
                mac: mac(0x10),
            },
            Ok(Reply::Done),
        )
        .expect(
            Request::LinkByIndex {
                netns: host(),
                index: 9,
            },
            Ok(Reply::Link(br(9, true))),
        )
        .expect(
            Request::DelAddress {
                netns: host(),
                index: 9,
                net: "192.0.2.1/24".parse().unwrap(),
            },
            Ok(Reply::Done),
        )
        .expect(
            Request::AddAddress {
                netns: host(),
                index: 9,
                net: "198.51.100.1/24".parse().unwrap(),
                nodad: false,
            },
            // Someone put it back already: fine.
            fail(Op::AddAddress, Errno::EEXIST, "198.51.100.1/24"),
        );
    let p = k.plumber();
    let setup = block_on(p.ensure_bridge(&forced)).unwrap();
    assert!(!setup.created && setup.changed_the_bridge());
    block_on(p.undo_bridge_setup(setup)).unwrap();
}

// SPEC: C4 (a step that fails undoes the steps before it: the bridge it created is deleted)
#[test]
fn a_failing_step_deletes_the_bridge_it_created_and_reports_an_undo_that_failed() {
    let mut k = Kernel::new();
    let mut quiet = plan();
    quiet.addresses.clear();
    k.expect(lookup(), fail(Op::GetLink, Errno::ENODEV, "cni0"))
        .expect(
            Request::CreateBridge {
                netns: host(),
                name: "cni0".into(),
                options: quiet.options,
            },
            Ok(Reply::Index(9)),
        )
        .expect(
            Request::LinkByIndex {
                netns: host(),
                index: 9,
            },
            Ok(Reply::Link(LinkInfo {
                mac: None,
                ..br(9, true)
            })),
        )
        .expect(read(ACCEPT_RA), Ok(Reply::Value("0".into())))
        .expect(read(IPV4_FORWARD), Ok(Reply::Value("0".into())))
        .expect(
            write(IPV4_FORWARD, "1"),
            fail(Op::WriteSysctl, Errno::EROFS, IPV4_FORWARD),
        )
        .expect(
            Request::DeleteLinks {
                netns: host(),
                indices: vec![9],
            },
            fail(Op::DeleteLink, Errno::EBUSY, "ifindex 9"),
        );
    let e = block_on(k.plumber().ensure_bridge(&quiet)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("failed to turn on forwarding (net/ipv4/ip_forward): write sysctl"),
        "{text}"
    );
    assert!(
        text.contains("; and undoing the setup of bridge \"cni0\" failed: delete link ifindex 9"),
        "{text}"
    );
}
