//! Model-based property test of attach / announce / detach on the simulator, in virtual time
//! (proptest-state-machine: `ReferenceStateMachine` + `StateMachineTest`).
//!
//! The reference model knows, per namespace, the interfaces nsplumb manages (name, source,
//! state, whether the link is still alive, addresses), which source links are available
//! (host dummies `hdK`, veth host names `vhK`, links `cdK` created in the namespace, bridge
//! sources `nbK`), and predicts every outcome: success and the exact name (N2), invalid input
//! (V9), N4, source missing, route conflict (A5), duplicate address, bridge as port, dead master,
//! and whether an injected fault hits a fatal step. After every transition the invariants are
//! checked against the simulator:
//! - registry == model, kernel links == model, each registered name is the link at its index;
//! - a failed attach leaves the snapshot as before and the name free (A15);
//! - per interface at most n ARP and n NA (S5), none before its link was set up, none after
//!   detach returned (S8) or after its MAC changed (S6), spacing >= interval (S5), frames carry
//!   the interface's MAC and addresses (S2, S3); exactly n ARP once due when undisturbed.

use futures::channel::oneshot;
use nsplumb_core::{
    AttachError, Attached, Destination, DetachError, Errno, IfaceState, MacAddr, NetnsRef, Op,
    Source, Spec, Timestamp,
};
use nsplumb_tests::{diff, ms, Announce, Harness};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const NSN: usize = 3;
const HD: usize = 4;
const VH: usize = 4;
const CD: usize = 2;
const NB: usize = 2;
const PREFIXES: [&str; 2] = ["eth", "net"];
const NAMES: [&str; 3] = ["x0", "x1", "x2"];
/// SPEC L1: MTUs an attach may ask for (all valid with IPv6).
const MTUS: [u32; 4] = [1280, 1400, 1500, 9000];
/// A link's MTU before anything set it.
const DEFAULT_MTU: u32 = 1500;
const DIS6: &str = "net.ipv6.conf.IFNAME.disable_ipv6=1";
const SYSCTLS: [&str; 4] = [
    DIS6,
    "net.ipv4.conf.IFNAME.arp_accept=1",
    "net.ipv4.conf.IFNAME.forwarding=1",
    "net.ipv6.conf.IFNAME.accept_dad=0",
];
/// Ops an attach may call before its first announcement (faults are drawn from these).
const FAULT_OPS: [Op; 17] = [
    Op::GetLink,
    Op::MoveLink,
    Op::RenameLink,
    Op::SetLinkUp,
    Op::SetLinkDown,
    Op::SetMac,
    Op::SetMaster,
    Op::CreateBridge,
    Op::CreateVeth,
    Op::AddAddress,
    Op::ListRoutes,
    Op::ListAddresses,
    Op::GetRoute,
    Op::ReadSysctl,
    Op::WriteSysctl,
    Op::SubscribeLinks,
    Op::SendArp,
];

fn ns_ref(i: usize) -> NetnsRef {
    NetnsRef::path(format!("/run/netns/ns{i}"))
}

// ------------------------------------------------------------------------------------ model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    Host(usize),
    Veth(usize),
    Cd(usize),
    Bridge(usize),
}

impl Src {
    fn name(self) -> String {
        match self {
            Src::Host(k) => format!("hd{k}"),
            Src::Veth(k) => format!("vh{k}"),
            Src::Cd(k) => format!("cd{k}"),
            Src::Bridge(k) => format!("nb{k}"),
        }
    }
    fn source(self) -> Source {
        match self {
            Src::Host(_) => Source::HostLink(self.name()),
            Src::Veth(_) => Source::VethOnBridge {
                bridge: "br0".into(),
                host_name: self.name(),
            },
            Src::Cd(_) => Source::CreatedInNamespace(self.name()),
            Src::Bridge(_) => Source::NewBridge(self.name()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    Prefix(usize),
    Name(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    Errno(Errno),
    Delay(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fault {
    op: Op,
    nth: u64,
    kind: FaultKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AttachOp {
    ns: usize,
    src: Src,
    dest: Dest,
    /// (subnet, host): `10.S.0.H/24`.
    v4: Option<(u8, u8)>,
    /// (subnet, host): `fd00:S::H/64`.
    v6: Option<(u8, u8)>,
    mac: Option<u8>,
    sysctls: Vec<usize>,
    master: Option<usize>,
    count: u32,
    interval_ms: u64,
    fault: Option<Fault>,
    /// SPEC L1.
    mtu: Option<u32>,
    /// SPEC L2–L4 on the host end's bridge port.
    port: Option<PortOpt>,
}

/// Port options an attach may ask for (SPEC L2–L4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortOpt {
    Hairpin,
    Isolated,
    Both,
    /// PVID 10: `br0` has VLAN filtering off, so this always fails after reading only (L3).
    Vlan,
}

/// What the simulator under test supports of the link options (probed once, before the run:
/// until backend-sim models them it answers EOPNOTSUPP, and the model predicts a clean failure
/// with everything rolled back instead of success).
#[derive(Debug, Clone, Copy)]
struct SimSupport {
    set_mtu: bool,
    port_flags: bool,
}

static SUPPORT: OnceLock<SimSupport> = OnceLock::new();

fn support() -> SimSupport {
    *SUPPORT.get_or_init(|| {
        let mut h = Harness::new(1);
        let br = h
            .sim
            .kernel()
            .create_bridge(&NetnsRef::Host, "br0")
            .unwrap();
        h.sim.kernel().set_link_up(&NetnsRef::Host, br).unwrap();
        h.sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
        let ns = h.netns("ns0");
        let mut mtu = Spec::new(
            Source::HostLink("hd0".into()),
            Destination::Name("e0".into()),
        );
        mtu.mtu = Some(1400);
        mtu.announce_count = 0;
        let mut flags = Spec::new(
            Source::VethOnBridge {
                bridge: "br0".into(),
                host_name: "vh0".into(),
            },
            Destination::Name("e1".into()),
        );
        flags.hairpin = true;
        flags.announce_count = 0;
        SimSupport {
            set_mtu: h.attach(&ns, mtu).is_ok(),
            port_flags: h.attach(&ns, flags).is_ok(),
        }
    })
}

impl AttachOp {
    fn spec(&self) -> Spec {
        let dest = match self.dest {
            Dest::Prefix(p) => Destination::Prefix(PREFIXES[p].into()),
            Dest::Name(n) => Destination::Name(NAMES[n].into()),
        };
        let mut s = Spec::new(self.src.source(), dest);
        s.mac = self
            .mac
            .map(|m| format!("02:00:00:{:02x}:00:{m:02x}", self.ns));
        s.ipv4 = self.v4.map(|(n, h)| format!("10.{n}.0.{h}/24"));
        s.ipv6 = self.v6.map(|(n, h)| format!("fd00:{n}::{h}/64"));
        s.sysctls = self
            .sysctls
            .iter()
            .map(|&i| SYSCTLS[i].to_string())
            .collect();
        s.master = self.master.map(|k| format!("nb{k}"));
        s.announce_count = self.count;
        s.announce_interval = ms(self.interval_ms);
        s.mtu = self.mtu;
        match self.port {
            None => {}
            Some(PortOpt::Hairpin) => s.hairpin = true,
            Some(PortOpt::Isolated) => s.isolated = true,
            Some(PortOpt::Both) => (s.hairpin, s.isolated) = (true, true),
            Some(PortOpt::Vlan) => s.vlan = Some(10),
        }
        s
    }
    fn has_options(&self) -> bool {
        self.mtu.is_some() || self.port.is_some()
    }
    fn drops_v6(&self) -> bool {
        self.v6.is_some() && self.sysctls.iter().any(|&i| SYSCTLS[i] == DIS6)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum T {
    Attach(AttachOp),
    Detach {
        ns: usize,
        name: String,
    },
    Forget {
        ns: usize,
        name: String,
    },
    Advance(u64),
    ChangeMac {
        ns: usize,
        name: String,
        seed: u8,
    },
    DeleteLink {
        ns: usize,
        name: String,
    },
    Stp(bool),
    Concurrent {
        attaches: Vec<AttachOp>,
        detaches: Vec<(usize, String)>,
        jitter_seed: u64,
        jitter_ms: u64,
        delays: Vec<(Op, u64)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    Here,
    Attached,
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MIface {
    src: Src,
    vanished: bool,
    alive: bool,
    v4: Option<(u8, u8)>,
    /// Effective IPv6 (None when A8 dropped it).
    v6: Option<(u8, u8)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MNs {
    ifaces: BTreeMap<String, MIface>,
    cd: [Res; CD],
    /// IPv4 addresses a `cdK` link kept from earlier attaches (detach does not remove them).
    residue: [Vec<(u8, u8)>; CD],
    /// The MTU of each `cdK` link (detach gives only a moved host link its MTU back, L1).
    cd_mtu: [u32; CD],
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    AttachOk {
        ns: usize,
        name: String,
        v6_dropped: bool,
        inject: bool,
    },
    AttachInvalid {
        ns: usize,
        /// What the error must say, one text per bad field.
        why: Vec<&'static str>,
    },
    AttachFailed {
        ns: usize,
        name: Option<String>,
        n4: bool,
        inject: bool,
    },
    DetachOk {
        ns: usize,
        name: String,
    },
    DetachVanished {
        ns: usize,
        name: String,
    },
    DetachNotAttached {
        ns: usize,
        name: String,
    },
    /// A repeated detach in a concurrent group: some clear error.
    DetachAnyError {
        ns: usize,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Model {
    ns: Vec<MNs>,
    hd: [Res; HD],
    vh: [bool; VH],
    stp: bool,
    /// Predictions for the transition just applied, in the order its operations are run.
    last: Vec<Expect>,
    /// Whether a `Concurrent` transition may really run concurrently (else sequentially).
    concurrent_ok: bool,
}

impl Model {
    fn new() -> Model {
        Model {
            ns: (0..NSN)
                .map(|_| MNs {
                    ifaces: BTreeMap::new(),
                    cd: [Res::Here; CD],
                    residue: Default::default(),
                    cd_mtu: [DEFAULT_MTU; CD],
                })
                .collect(),
            hd: [Res::Here; HD],
            vh: [false; VH],
            stp: false,
            last: Vec::new(),
            concurrent_ok: false,
        }
    }

    fn all_names(&self) -> Vec<(usize, String)> {
        self.ns
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.ifaces.keys().map(move |k| (i, k.clone())))
            .collect()
    }

    fn available(&self, ns: usize, src: Src) -> bool {
        match src {
            Src::Host(k) => self.hd[k] == Res::Here,
            Src::Veth(k) => !self.vh[k],
            Src::Cd(k) => self.ns[ns].cd[k] == Res::Here,
            Src::Bridge(_) => true,
        }
    }

    /// N2: prefix + lowest free plain decimal suffix among the registered names.
    fn next_name(&self, ns: usize, prefix: &str) -> String {
        let used: BTreeSet<u64> = self.ns[ns]
            .ifaces
            .keys()
            .filter_map(|n| {
                let d = n.strip_prefix(prefix)?;
                let ok = !d.is_empty()
                    && d.bytes().all(|b| b.is_ascii_digit())
                    && (d == "0" || !d.starts_with('0'));
                if ok {
                    d.parse().ok()
                } else {
                    None
                }
            })
            .collect();
        let n = (0..).find(|i| !used.contains(i)).unwrap();
        format!("{prefix}{n}")
    }

    /// IPv4 / IPv6 subnets with a route in the namespace (connected routes of up links).
    fn routes(&self, ns: usize) -> (BTreeSet<u8>, BTreeSet<u8>) {
        let n = &self.ns[ns];
        let mut v4 = BTreeSet::new();
        let mut v6 = BTreeSet::new();
        for i in n.ifaces.values().filter(|i| i.alive) {
            if let Some((s, _)) = i.v4 {
                v4.insert(s);
            }
            if let Src::Cd(k) = i.src {
                v4.extend(n.residue[k].iter().map(|a| a.0));
            }
            if let Some((s, _)) = i.v6 {
                v6.insert(s);
            }
        }
        (v4, v6)
    }

    /// How many calls of each op the attach makes up to and including A11 (its subscription and
    /// link read open A4): a failure there is fatal; later ones only cost a warning. `None`: not predictable.
    fn fatal_calls(&self, a: &AttachOp, op: Op) -> Option<u64> {
        if a.has_options() {
            return None; // the option steps' reads are not counted here
        }
        let v6 = a.v6.is_some() as u64;
        let v4 = a.v4.is_some() as u64;
        let n = match op {
            Op::GetLink => match a.src {
                Src::Bridge(_) => 1,
                _ => 2,
            },
            Op::SubscribeLinks => 1,
            Op::MoveLink => matches!(a.src, Src::Host(_)) as u64,
            Op::CreateVeth => matches!(a.src, Src::Veth(_)) as u64,
            Op::CreateBridge => matches!(a.src, Src::Bridge(_)) as u64,
            Op::SetLinkDown => matches!(a.src, Src::Cd(_)) as u64,
            Op::RenameLink => matches!(a.src, Src::Cd(_) | Src::Bridge(_)) as u64,
            Op::SetMac => (a.mac.is_some() && !matches!(a.src, Src::Veth(_))) as u64,
            Op::ListRoutes | Op::AddAddress => v4 + v6,
            // A6 takes `disable_ipv6` from the A11 link read: only A7 reads sysctls.
            Op::ReadSysctl => a.sysctls.len() as u64,
            Op::WriteSysctl => {
                if matches!(a.src, Src::Cd(_)) {
                    return None; // the link keeps sysctls from earlier attaches
                }
                let mut w = (v6 == 0) as u64; // A6: disable_ipv6 0 -> 1
                for &i in &a.sysctls {
                    w += if SYSCTLS[i] == DIS6 { v6 } else { 1 };
                }
                w
            }
            Op::SetMaster => a.master.is_some() as u64,
            Op::ListAddresses => (a.v6.is_some() && !a.sysctls.is_empty()) as u64,
            _ => 0,
        };
        Some(n)
    }

    /// Predict one attach and apply it to the model.
    fn attach(&mut self, a: &AttachOp) -> Expect {
        let ns = a.ns;
        let mut why = Vec::new();
        // L2–L4: a new bridge takes no port options.
        if matches!(a.src, Src::Bridge(_)) && a.port.is_some() {
            why.push("needs a veth on a bridge");
        }
        // V9: the first attached bridge (by name) with that source name.
        let master = match a.master {
            None => None,
            Some(k) => {
                let found = self.ns[ns]
                    .ifaces
                    .values()
                    .find(|i| i.src == Src::Bridge(k) && !i.vanished)
                    .cloned();
                if found.is_none() {
                    why.push("could not find an appropriate master");
                }
                found
            }
        };
        if !why.is_empty() {
            return Expect::AttachInvalid { ns, why };
        }
        let name = match a.dest {
            Dest::Prefix(p) => self.next_name(ns, PREFIXES[p]),
            Dest::Name(n) => NAMES[n].to_string(),
        };
        if self.ns[ns].ifaces.contains_key(&name) {
            return Expect::AttachFailed {
                ns,
                name: None,
                n4: true,
                inject: false,
            };
        }
        let (r4, r6) = self.routes(ns);
        let mut fails = !self.available(ns, a.src);
        if let Some((s, h)) = a.v4 {
            fails |= r4.contains(&s);
            if let Src::Cd(k) = a.src {
                fails |= self.ns[ns].residue[k].contains(&(s, h));
            }
        }
        if let Some((s, _)) = a.v6 {
            fails |= r6.contains(&s);
        }
        if let Some(m) = &master {
            fails |= !m.alive || matches!(a.src, Src::Bridge(_));
        }
        let support = support();
        // L1: a new veth gets its MTU at creation; another link only when it differs.
        let mtu_before = match a.src {
            Src::Cd(k) => self.ns[ns].cd_mtu[k],
            _ => DEFAULT_MTU,
        };
        let sets_mtu = !matches!(a.src, Src::Veth(_)) && a.mtu.is_some_and(|m| m != mtu_before);
        fails |= sets_mtu && !support.set_mtu;
        // L2–L4: only the host end of a veth on a bridge; br0 filters no VLANs (L3).
        fails |= match (a.src, a.port) {
            (_, None) => false,
            (Src::Veth(_), Some(PortOpt::Vlan)) => true,
            (Src::Veth(_), Some(_)) => !support.port_flags,
            _ => true,
        };
        let mut inject = !fails;
        if let Some(f) = a.fault {
            if let (FaultKind::Errno(_), false) = (f.kind, fails) {
                match self.fatal_calls(a, f.op) {
                    Some(n) => fails |= f.nth <= n && f.op != Op::SetLinkUp,
                    None => inject = false,
                }
            }
        }
        if fails {
            return Expect::AttachFailed {
                ns,
                name: Some(name),
                n4: false,
                inject,
            };
        }
        match a.src {
            Src::Host(k) => self.hd[k] = Res::Attached,
            Src::Veth(k) => self.vh[k] = true,
            Src::Cd(k) => {
                self.ns[ns].cd[k] = Res::Attached;
                if let Some(m) = a.mtu {
                    self.ns[ns].cd_mtu[k] = m;
                }
            }
            Src::Bridge(_) => {}
        }
        let dropped = a.drops_v6();
        self.ns[ns].ifaces.insert(
            name.clone(),
            MIface {
                src: a.src,
                vanished: false,
                alive: true,
                v4: a.v4,
                v6: if dropped { None } else { a.v6 },
            },
        );
        Expect::AttachOk {
            ns,
            name,
            v6_dropped: dropped,
            inject,
        }
    }

    fn detach(&mut self, ns: usize, name: &str) -> Expect {
        let name = name.to_string();
        let Some(i) = self.ns[ns].ifaces.get(&name).cloned() else {
            return Expect::DetachNotAttached { ns, name };
        };
        if !i.alive {
            self.ns[ns].ifaces.get_mut(&name).unwrap().vanished = true;
            return Expect::DetachVanished { ns, name };
        }
        self.ns[ns].ifaces.remove(&name);
        match i.src {
            Src::Host(k) => self.hd[k] = Res::Here,
            Src::Veth(k) => self.vh[k] = false,
            Src::Cd(k) => {
                self.ns[ns].cd[k] = Res::Here;
                if let Some(a) = i.v4 {
                    if !self.ns[ns].residue[k].contains(&a) {
                        self.ns[ns].residue[k].push(a);
                    }
                }
            }
            Src::Bridge(_) => {}
        }
        Expect::DetachOk { ns, name }
    }

    /// Whether a group may run concurrently with predictions independent of the interleaving.
    fn group_ok(&self, attaches: &[AttachOp]) -> bool {
        let mut srcs = BTreeSet::new();
        let mut names = BTreeSet::new();
        let mut v4s = BTreeSet::new();
        let mut v6s = BTreeSet::new();
        for a in attaches {
            // Links created in the namespace, and bridges (created under their source name,
            // then renamed), are per namespace; host links are global.
            let key = match a.src {
                Src::Cd(_) | Src::Bridge(_) => (a.ns, a.src.name()),
                other => (usize::MAX, other.name()),
            };
            if a.fault.is_some() || a.master.is_some() || !self.available(a.ns, a.src) {
                return false;
            }
            if !srcs.insert(key) {
                return false;
            }
            if let Dest::Name(n) = a.dest {
                if self.ns[a.ns].ifaces.contains_key(NAMES[n]) || !names.insert((a.ns, n)) {
                    return false;
                }
            }
            let (r4, r6) = self.routes(a.ns);
            // A link created in the namespace brings back the IPv4 routes of its residue.
            if let Src::Cd(k) = a.src {
                for &(s, _) in &self.ns[a.ns].residue[k] {
                    if !v4s.insert((a.ns, s)) {
                        return false;
                    }
                }
            }
            if let Some((s, h)) = a.v4 {
                if r4.contains(&s) || !v4s.insert((a.ns, s)) {
                    return false;
                }
                if let Src::Cd(k) = a.src {
                    if self.ns[a.ns].residue[k].contains(&(s, h)) {
                        return false;
                    }
                }
            }
            if let Some((s, _)) = a.v6 {
                if r6.contains(&s) || !v6s.insert((a.ns, s)) {
                    return false;
                }
            }
        }
        true
    }
}

// ----------------------------------------------------------------------------- generation

fn attach_strategy(ns: Option<usize>, with_fault: bool) -> BoxedStrategy<AttachOp> {
    let ns = match ns {
        Some(n) => Just(n).boxed(),
        None => (0..NSN).boxed(),
    };
    let src = prop_oneof![
        (0..HD).prop_map(Src::Host),
        (0..VH).prop_map(Src::Veth),
        (0..CD).prop_map(Src::Cd),
        (0..NB).prop_map(Src::Bridge),
    ];
    let dest = prop_oneof![
        7 => (0..PREFIXES.len()).prop_map(Dest::Prefix),
        3 => (0..NAMES.len()).prop_map(Dest::Name),
    ];
    let addr = proptest::option::weighted(0.7, (0u8..6, 1u8..250));
    let addr6 = proptest::option::weighted(0.5, (0u8..6, 1u8..250));
    let fault = if with_fault {
        proptest::option::weighted(
            0.25,
            (
                proptest::sample::select(FAULT_OPS.to_vec()),
                1u64..=3,
                prop_oneof![
                    3 => proptest::sample::select(vec![Errno::EIO, Errno::ENOMEM, Errno::EBUSY])
                        .prop_map(FaultKind::Errno),
                    1 => (1u64..400).prop_map(FaultKind::Delay),
                ],
            )
                .prop_map(|(op, nth, kind)| Fault { op, nth, kind }),
        )
        .boxed()
    } else {
        Just(None).boxed()
    };
    let master = if with_fault {
        proptest::option::weighted(0.15, 0..NB).boxed()
    } else {
        Just(None).boxed()
    };
    // SPEC L1–L4, in single attaches (a group's predictions assume none).
    let options = if with_fault {
        (
            proptest::option::weighted(0.2, proptest::sample::select(MTUS.to_vec())),
            proptest::option::weighted(
                0.15,
                proptest::sample::select(vec![
                    PortOpt::Hairpin,
                    PortOpt::Isolated,
                    PortOpt::Both,
                    PortOpt::Vlan,
                ]),
            ),
        )
            .boxed()
    } else {
        Just((None, None)).boxed()
    };
    (
        ns,
        src,
        dest,
        addr,
        addr6,
        proptest::option::weighted(0.5, any::<u8>()),
        proptest::sample::subsequence((0..SYSCTLS.len()).collect::<Vec<_>>(), 0..=3),
        master,
        0u32..=3,
        100u64..=2000,
        fault,
        options,
    )
        .prop_map(
            |(ns, src, dest, v4, v6, mac, sysctls, master, count, interval_ms, fault, options)| {
                AttachOp {
                    ns,
                    src,
                    dest,
                    v4,
                    v6,
                    mac,
                    sysctls,
                    master,
                    count,
                    interval_ms,
                    fault,
                    mtu: options.0,
                    port: options.1,
                }
            },
        )
        .boxed()
}

struct ModelRef;

impl ReferenceStateMachine for ModelRef {
    type State = Model;
    type Transition = T;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::new()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<T> {
        let names = state.all_names();
        let known = if names.is_empty() {
            Just((0usize, "eth0".to_string())).boxed()
        } else {
            proptest::sample::select(names).boxed()
        };
        let some_name = prop_oneof![
            9 => known.clone(),
            1 => (0..NSN, proptest::sample::select(vec!["nope", "eth9", "x1", "lo"]))
                .prop_map(|(n, s)| (n, s.to_string())),
        ];
        let group = (
            proptest::collection::vec(attach_strategy(None, false), 1..=3),
            proptest::collection::vec(some_name.clone(), 0..=2),
            any::<u64>(),
            1u64..60,
            proptest::collection::vec(
                (proptest::sample::select(FAULT_OPS.to_vec()), 1u64..30),
                0..=2,
            ),
        )
            .prop_map(|(attaches, mut detaches, jitter_seed, jitter_ms, delays)| {
                if detaches.len() == 2 && jitter_seed % 3 == 0 {
                    detaches[1] = detaches[0].clone(); // D2: the same interface twice
                }
                T::Concurrent {
                    attaches,
                    detaches,
                    jitter_seed,
                    jitter_ms,
                    delays,
                }
            });
        prop_oneof![
            30 => attach_strategy(None, true).prop_map(T::Attach),
            15 => some_name.clone().prop_map(|(ns, name)| T::Detach { ns, name }),
            15 => prop_oneof![0u64..300, 300u64..2500, Just(6000u64)].prop_map(T::Advance),
            4 => (known.clone(), any::<u8>()).prop_map(|((ns, name), seed)| T::ChangeMac { ns, name, seed }),
            4 => known.clone().prop_map(|(ns, name)| T::DeleteLink { ns, name }),
            2 => known.prop_map(|(ns, name)| T::Forget { ns, name }),
            2 => any::<bool>().prop_map(T::Stp),
            8 => group,
        ]
        .boxed()
    }

    fn apply(mut state: Model, t: &T) -> Model {
        state.last.clear();
        match t {
            T::Attach(a) => {
                let e = state.attach(a);
                state.last.push(e);
            }
            T::Detach { ns, name } => {
                let e = state.detach(*ns, name);
                state.last.push(e);
            }
            T::Forget { ns, name } => {
                if state.ns[*ns].ifaces.get(name).is_some_and(|i| i.vanished) {
                    state.ns[*ns].ifaces.remove(name);
                }
            }
            T::DeleteLink { ns, name } => {
                if let Some(i) = state.ns[*ns].ifaces.get_mut(name) {
                    if i.alive {
                        i.alive = false;
                        let src = i.src;
                        match src {
                            Src::Host(k) => state.hd[k] = Res::Gone,
                            Src::Veth(k) => state.vh[k] = false,
                            Src::Cd(k) => state.ns[*ns].cd[k] = Res::Gone,
                            Src::Bridge(_) => {}
                        }
                    }
                }
            }
            T::Stp(on) => state.stp = *on,
            T::Advance(_) | T::ChangeMac { .. } => {}
            T::Concurrent {
                attaches, detaches, ..
            } => {
                state.concurrent_ok = state.group_ok(attaches);
                let mut made = BTreeSet::new();
                for a in attaches {
                    let e = state.attach(a);
                    if let Expect::AttachOk { ns, name, .. } = &e {
                        made.insert((*ns, name.clone()));
                    }
                    state.last.push(e);
                }
                // A detach of a name this group creates would race with its attach.
                if detaches.iter().any(|d| made.contains(d)) {
                    state.concurrent_ok = false;
                }
                let mut seen = BTreeSet::new();
                for (ns, name) in detaches {
                    let first = seen.insert((*ns, name.clone()));
                    let e = state.detach(*ns, name);
                    state.last.push(if first || !state.concurrent_ok {
                        e
                    } else {
                        Expect::DetachAnyError {
                            ns: *ns,
                            name: name.clone(),
                        }
                    });
                }
            }
        }
        state
    }
}

// ---------------------------------------------------------------------- system under test

struct Instance {
    ns: NetnsRef,
    name: String,
    ifindex: u32,
    mac: Option<MacAddr>,
    v4: Option<std::net::Ipv4Addr>,
    v6: Option<std::net::Ipv6Addr>,
    count: u32,
    interval: Duration,
    start_pos: usize,
    /// Frame-log length when nsplumb's set-up of this link returned.
    up_pos: usize,
    attached_at: Timestamp,
    /// Frame-log length when detach returned (S8: nothing after it).
    end_pos: Option<usize>,
    /// Frame-log length when the link was deleted behind nsplumb's back, and until when a
    /// send checked before (delayed by injected latency) may still go out of whatever link
    /// took its index.
    deleted: Option<(usize, Option<Timestamp>)>,
    mac_changed_pos: Option<usize>,
    /// The MAC changed while a send delayed by injected latency may still have been under way
    /// (checked before the delay, sent after): frames until then are that send.
    mac_grace: Option<Timestamp>,
    clean: bool,
    arps: u32,
    nas: u32,
    last_arp: Option<Timestamp>,
    last_na: Option<Timestamp>,
}

struct Sut {
    h: Harness,
    instances: Vec<Instance>,
    live: BTreeMap<(usize, String), usize>,
    frames_checked: usize,
    steps: u64,
    /// Until when calls delayed by injected latency (jitter, delay faults) may still run.
    settle_at: Timestamp,
}

static CASES: AtomicU64 = AtomicU64::new(0);
static STEPS: AtomicU64 = AtomicU64::new(0);
static ATTACH_OK: AtomicU64 = AtomicU64::new(0);
static ATTACH_FAILED: AtomicU64 = AtomicU64::new(0);
static ATTACH_INVALID: AtomicU64 = AtomicU64::new(0);
static FAULTS_FATAL: AtomicU64 = AtomicU64::new(0);
static GROUPS: AtomicU64 = AtomicU64::new(0);
static FRAMES: AtomicU64 = AtomicU64::new(0);
static EXACT: AtomicU64 = AtomicU64::new(0);
/// Successful attaches by source: host link, veth on bridge, created in namespace, new bridge.
static ATTACH_OK_BY_SOURCE: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static FAULTS_ARMED: AtomicU64 = AtomicU64::new(0);
static WITH_MTU: AtomicU64 = AtomicU64::new(0);
static WITH_PORT_FLAGS: AtomicU64 = AtomicU64::new(0);
static WITH_VLAN: AtomicU64 = AtomicU64::new(0);
static DETACH_OK: AtomicU64 = AtomicU64::new(0);
static DETACH_VANISHED: AtomicU64 = AtomicU64::new(0);
static MAC_CHANGES: AtomicU64 = AtomicU64::new(0);
static LINKS_DELETED: AtomicU64 = AtomicU64::new(0);
static FORGOTTEN: AtomicU64 = AtomicU64::new(0);

fn spawn<T: 'static>(
    h: &Harness,
    f: impl std::future::Future<Output = T> + 'static,
) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    h.rt.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx
}

impl Sut {
    fn new() -> Sut {
        let h = Harness::new(0x00ab_cdef);
        {
            let mut k = h.sim.kernel();
            // With NSPLUMB_MODEL_HIGH_HOST_INDICES=1 host links get indices far above anything
            // a namespace allocates, so a link moved in never takes the index of a vanished
            // one; by default they may (as in Linux), which exercises detach's identity check.
            if std::env::var_os("NSPLUMB_MODEL_HIGH_HOST_INDICES").is_some() {
                for i in 0..300 {
                    let idx = k.create_dummy(&NetnsRef::Host, &format!("ph{i}")).unwrap();
                    k.delete_link(&NetnsRef::Host, idx).unwrap();
                }
            }
            let br = k.create_bridge(&NetnsRef::Host, "br0").unwrap();
            k.set_link_up(&NetnsRef::Host, br).unwrap();
            k.set_mac(&NetnsRef::Host, br, "02:00:00:00:0b:00".parse().unwrap())
                .unwrap();
            for i in 0..HD {
                k.create_dummy(&NetnsRef::Host, &format!("hd{i}")).unwrap();
            }
            for n in 0..NSN {
                let r = k.create_netns(&format!("ns{n}")).unwrap();
                for c in 0..CD {
                    k.create_dummy(&r, &format!("cd{c}")).unwrap();
                }
            }
        }
        Sut {
            h,
            instances: Vec::new(),
            live: BTreeMap::new(),
            frames_checked: 0,
            steps: 0,
            settle_at: Timestamp::ZERO,
        }
    }

    /// Injected latency is on: calls started until now may finish up to 500 ms later.
    fn latency(&mut self) {
        self.settle_at = self.settle_at.max(self.h.now() + ms(500));
    }

    fn disturb_all(&mut self) {
        for &i in self.live.values() {
            self.instances[i].clean = false;
        }
    }

    fn arm(&self, f: &Fault) {
        match f.kind {
            FaultKind::Errno(e) => self.h.faults.fail_nth(f.op, f.nth, e),
            FaultKind::Delay(d) => self.h.faults.delay(f.op, ms(d)),
        }
    }

    /// Check an attach outcome against its prediction and record the new instance.
    #[allow(clippy::too_many_arguments)]
    fn check_attach(
        &mut self,
        op: &AttachOp,
        expect: &Expect,
        r: Result<Attached, AttachError>,
        before: Option<&nsplumb_tests::NormSnapshot>,
        start_pos: usize,
        log_from: usize,
        disturbed: bool,
    ) {
        let ns = ns_ref(op.ns);
        match (expect, r) {
            (
                Expect::AttachOk {
                    name, v6_dropped, ..
                },
                Ok(a),
            ) => {
                assert_eq!(&a.name, name, "N2: predicted name for {op:?}");
                assert_eq!(a.ipv6.is_none(), *v6_dropped || op.v6.is_none(), "A8 {a:?}");
                assert_eq!(a.ipv6_dropped.is_some(), *v6_dropped, "A8 {a:?}");
                let up_pos = self
                    .h
                    .backend
                    .calls_since(log_from)
                    .iter()
                    .find(|c| {
                        c.op == Op::SetLinkUp && c.ok && c.netns == ns && c.index == Some(a.ifindex)
                    })
                    .map(|c| c.frames_after)
                    .unwrap_or_else(|| panic!("no successful set-up of {} seen", a.name));
                let bridge_without_mac = matches!(op.src, Src::Bridge(_)) && op.mac.is_none();
                let inst = Instance {
                    ns: ns.clone(),
                    name: a.name.clone(),
                    ifindex: a.ifindex,
                    mac: a.mac,
                    v4: a.ipv4.map(|n| n.addr()),
                    v6: a.ipv6.map(|n| n.addr()),
                    count: op.count,
                    interval: ms(op.interval_ms),
                    start_pos,
                    up_pos,
                    attached_at: self.h.now(),
                    end_pos: None,
                    deleted: None,
                    mac_changed_pos: None,
                    mac_grace: None,
                    clean: !disturbed && op.fault.is_none() && !bridge_without_mac,
                    arps: 0,
                    nas: 0,
                    last_arp: None,
                    last_na: None,
                };
                ATTACH_OK.fetch_add(1, Ordering::Relaxed);
                let by_source = match op.src {
                    Src::Host(_) => 0,
                    Src::Veth(_) => 1,
                    Src::Cd(_) => 2,
                    Src::Bridge(_) => 3,
                };
                ATTACH_OK_BY_SOURCE[by_source].fetch_add(1, Ordering::Relaxed);
                self.live
                    .insert((op.ns, a.name.clone()), self.instances.len());
                self.instances.push(inst);
            }
            (Expect::AttachInvalid { why, .. }, Err(e)) => {
                ATTACH_INVALID.fetch_add(1, Ordering::Relaxed);
                assert!(e.is_invalid_input(), "V9/L2 expected Invalid: {e}");
                for w in why {
                    assert!(e.to_string().contains(w), "{e} lacks {w:?}");
                }
                if let Some(b) = before {
                    assert_eq!(&self.h.norm(), b, "invalid input touched the kernel");
                }
            }
            (Expect::AttachFailed { n4, .. }, Err(e)) => {
                ATTACH_FAILED.fetch_add(1, Ordering::Relaxed);
                if op
                    .fault
                    .is_some_and(|f| matches!(f.kind, FaultKind::Errno(_)))
                    && e.to_string().contains("injected fault")
                {
                    FAULTS_FATAL.fetch_add(1, Ordering::Relaxed);
                }
                assert!(!e.is_invalid_input(), "{e}");
                if *n4 {
                    let t = e.to_string();
                    assert!(
                        t.contains("error renaming interface") && t.contains("file exists"),
                        "N4: {t}"
                    );
                }
                if let Some(b) = before {
                    let after = self.h.norm();
                    assert!(
                        &after == b,
                        "A15: snapshot after failed attach {op:?} ({e}) differs: {}",
                        diff(&after, b)
                    );
                }
                if let AttachError::Failed {
                    rollback_errors, ..
                } = &e
                {
                    assert!(rollback_errors.is_empty(), "rollback errors: {e}");
                }
            }
            (exp, got) => panic!("{op:?}: predicted {exp:?}, got {got:?}"),
        }
    }

    fn check_detach(
        &mut self,
        expect: &Expect,
        r: Result<(), DetachError>,
        frames_at_return: usize,
    ) {
        match (expect, &r) {
            (Expect::DetachOk { ns, name }, Ok(())) => {
                DETACH_OK.fetch_add(1, Ordering::Relaxed);
                let i = self.live.remove(&(*ns, name.clone())).expect("instance");
                self.instances[i].end_pos = Some(frames_at_return);
            }
            (Expect::DetachVanished { ns, name }, Err(DetachError::Vanished { .. })) => {
                DETACH_VANISHED.fetch_add(1, Ordering::Relaxed);
                if let Some(&i) = self.live.get(&(*ns, name.clone())) {
                    self.instances[i].end_pos.get_or_insert(frames_at_return);
                }
            }
            (Expect::DetachNotAttached { .. }, Err(DetachError::NotAttached { .. })) => {}
            (Expect::DetachAnyError { .. }, Err(e)) => {
                assert!(
                    matches!(
                        e,
                        DetachError::Busy { .. }
                            | DetachError::NotAttached { .. }
                            | DetachError::Vanished { .. }
                    ),
                    "{e:?}"
                );
            }
            (exp, got) => panic!("detach: predicted {exp:?}, got {got:?}"),
        }
        if let Err(e) = &r {
            let (ns, name) = match expect {
                Expect::DetachVanished { ns, name }
                | Expect::DetachNotAttached { ns, name }
                | Expect::DetachAnyError { ns, name }
                | Expect::DetachOk { ns, name } => (*ns, name),
                _ => unreachable!(),
            };
            let t = e.to_string();
            assert!(
                t.contains(name.as_str()) && t.contains(&ns_ref(ns).to_string()),
                "{t}"
            );
        }
    }

    fn iface_index(&self, ns: usize, name: &str) -> Option<u32> {
        self.h
            .plumber
            .interfaces(&ns_ref(ns))
            .into_iter()
            .find(|i| i.name == name)
            .and_then(|i| i.attached.map(|a| a.ifindex))
    }

    fn run_attach(&mut self, op: &AttachOp, expect: &Expect) {
        let start_pos = self.h.frame_count();
        let log_from = self.h.backend.log_len();
        let calls_before = self.h.calls();
        let inject = matches!(
            expect,
            Expect::AttachOk { inject: true, .. } | Expect::AttachFailed { inject: true, .. }
        );
        let before = self.h.norm();
        if let (Some(f), true) = (&op.fault, inject) {
            FAULTS_ARMED.fetch_add(1, Ordering::Relaxed);
            self.arm(f);
            self.disturb_all();
        }
        if op.mtu.is_some() {
            WITH_MTU.fetch_add(1, Ordering::Relaxed);
        }
        match op.port {
            Some(PortOpt::Vlan) => WITH_VLAN.fetch_add(1, Ordering::Relaxed),
            Some(_) => WITH_PORT_FLAGS.fetch_add(1, Ordering::Relaxed),
            None => 0,
        };
        let r = self.h.attach(&ns_ref(op.ns), op.spec());
        if let (
            Some(Fault {
                kind: FaultKind::Delay(_),
                ..
            }),
            true,
        ) = (&op.fault, inject)
        {
            self.latency();
        }
        self.h.faults.clear();
        if matches!(expect, Expect::AttachInvalid { .. })
            || matches!(expect, Expect::AttachFailed { n4: true, .. })
        {
            assert_eq!(
                self.h.calls(),
                calls_before,
                "no kernel call for {expect:?}"
            );
        }
        let disturbed = op.fault.is_some() && inject;
        let check_snapshot = !matches!(expect, Expect::AttachOk { .. });
        self.check_attach(
            op,
            expect,
            r,
            check_snapshot.then_some(&before),
            start_pos,
            log_from,
            disturbed,
        );
    }

    fn run_detach(&mut self, ns: usize, name: &str, expect: &Expect) {
        let r = self.h.detach(&ns_ref(ns), name);
        let at = self.h.frame_count();
        self.check_detach(expect, r, at);
    }

    fn run_group(
        &mut self,
        ref_state: &Model,
        attaches: &[AttachOp],
        detaches: &[(usize, String)],
        jitter: (u64, u64),
        delays: &[(Op, u64)],
    ) {
        let expects = ref_state.last.clone();
        assert_eq!(expects.len(), attaches.len() + detaches.len());
        if !ref_state.concurrent_ok {
            for (a, e) in attaches.iter().zip(&expects) {
                self.run_attach(a, e);
            }
            for ((ns, name), e) in detaches.iter().zip(&expects[attaches.len()..]) {
                self.run_detach(*ns, name, e);
            }
            return;
        }
        self.disturb_all();
        GROUPS.fetch_add(1, Ordering::Relaxed);
        let start_pos = self.h.frame_count();
        let log_from = self.h.backend.log_len();
        self.h.backend.set_jitter(Some(jitter));
        for (op, d) in delays {
            self.h.faults.delay(*op, ms(*d));
        }
        let mut att_rx = Vec::new();
        for a in attaches {
            let p = self.h.plumber.clone();
            let ns = ns_ref(a.ns);
            let spec = a.spec();
            att_rx.push(spawn(&self.h, async move { p.attach(&ns, spec).await }));
        }
        let mut det_rx = Vec::new();
        for (ns, name) in detaches {
            let p = self.h.plumber.clone();
            let sim = self.h.sim.clone();
            let ns = ns_ref(*ns);
            let name = name.clone();
            det_rx.push(spawn(&self.h, async move {
                let r = p.detach(&ns, &name).await;
                (r, sim.kernel().frame_log().len())
            }));
        }
        let att = self.h.block_on(futures::future::join_all(att_rx));
        let det = self.h.block_on(futures::future::join_all(det_rx));
        self.latency();
        self.h.backend.set_jitter(None);
        self.h.faults.clear();
        for ((a, e), r) in attaches.iter().zip(&expects).zip(att) {
            self.check_attach(a, e, r.unwrap(), None, start_pos, log_from, true);
        }
        for (e, r) in expects[attaches.len()..].iter().zip(det) {
            let (r, at) = r.unwrap();
            self.check_detach(e, r, at);
        }
    }

    fn check_frames(&mut self) {
        let frames = nsplumb_tests::frames_from(&self.h.sim, self.frames_checked);
        for f in frames {
            let settle_at = self.settle_at;
            // Indices can be reused (a link moved in keeps its index when free), so the name
            // the frame left under and its source MAC pick the interface too.
            let by_name = self.instances.iter().rposition(|i| {
                i.ns == f.netns
                    && i.ifindex == f.index
                    && i.name == f.ifname
                    && i.start_pos <= f.pos
            });
            let pick = match by_name {
                Some(i) if self.instances[i].mac == Some(f.src_mac) => Some(i),
                _ => {
                    // A send checked before the link was deleted and delayed by injected
                    // latency goes out of whatever link took the index.
                    self.instances.iter().rposition(|i| {
                        i.ns == f.netns
                            && i.ifindex == f.index
                            && i.mac == Some(f.src_mac)
                            && i.deleted
                                .is_some_and(|(p, g)| p <= f.pos && g.is_some_and(|g| f.time <= g))
                    })
                }
            }
            .or(by_name);
            let inst = &mut self.instances
                [pick.unwrap_or_else(|| panic!("frame from no attached interface: {f:?}"))];
            let _ = settle_at;
            let who = format!("{} in {}", inst.name, inst.ns);
            assert!(f.pos >= inst.up_pos, "frame before {who} was set up");
            if let Some(e) = inst.end_pos {
                assert!(
                    f.pos < e,
                    "S8: frame for {who} after detach returned: {f:?}"
                );
            }
            if let Some((d, grace)) = inst.deleted {
                let in_flight = grace.is_some_and(|g| f.time <= g);
                assert!(
                    f.pos < d || in_flight,
                    "frame for {who} after its link was deleted"
                );
            }
            if let Some(m) = inst.mac_changed_pos {
                let in_flight = inst.mac_grace.is_some_and(|g| f.time <= g);
                assert!(
                    f.pos < m || in_flight,
                    "S6: frame for {who} after its MAC changed"
                );
            }
            assert_eq!(Some(f.src_mac), inst.mac, "frame source MAC of {who}");
            match &f.what {
                Announce::Arp {
                    sender_mac,
                    sender_ip,
                    target_ip,
                } => {
                    assert_eq!(Some(*sender_ip), inst.v4, "S2 sender IP of {who}");
                    assert_eq!(sender_ip, target_ip);
                    assert_eq!(Some(*sender_mac), inst.mac);
                    inst.arps += 1;
                    assert!(
                        inst.arps <= inst.count,
                        "S5: more than {} ARP for {who}",
                        inst.count
                    );
                    if let Some(l) = inst.last_arp {
                        assert!(f.time - l >= inst.interval, "S5: ARP spacing of {who}");
                    }
                    inst.last_arp = Some(f.time);
                }
                Announce::Na { target, tll } => {
                    assert_eq!(Some(*target), inst.v6, "S3 target of {who} (A8)");
                    assert_eq!(*tll, inst.mac);
                    inst.nas += 1;
                    assert!(
                        inst.nas <= inst.count,
                        "S5: more than {} NA for {who}",
                        inst.count
                    );
                    if let Some(l) = inst.last_na {
                        assert!(f.time - l >= inst.interval, "S5: NA spacing of {who}");
                    }
                    inst.last_na = Some(f.time);
                }
                Announce::Other => panic!("unexpected frame {f:?}"),
            }
            self.frames_checked = f.pos + 1;
            FRAMES.fetch_add(1, Ordering::Relaxed);
        }
        // Undisturbed interfaces send exactly n ARP once all rounds are due.
        let now = self.h.now();
        for &i in self.live.values() {
            let inst = &self.instances[i];
            if inst.clean && inst.v4.is_some() && inst.end_pos.is_none() {
                let due = inst.attached_at + inst.interval * inst.count.saturating_sub(1);
                if now >= due {
                    EXACT.fetch_add(1, Ordering::Relaxed);
                    assert_eq!(
                        inst.arps, inst.count,
                        "exactly {} ARP for {} in {} by {:?}",
                        inst.count, inst.name, inst.ns, now
                    );
                }
            }
        }
    }
}

struct ModelTest;

impl StateMachineTest for ModelTest {
    type SystemUnderTest = Sut;
    type Reference = ModelRef;

    fn init_test(_: &Model) -> Sut {
        CASES.fetch_add(1, Ordering::Relaxed);
        Sut::new()
    }

    fn apply(mut sut: Sut, ref_state: &Model, t: T) -> Sut {
        sut.steps += 1;
        let debug = std::env::var_os("NSPLUMB_MODEL_DEBUG").is_some();
        if debug {
            eprintln!("[{:?}] {t:?}", sut.h.now());
        }
        STEPS.fetch_add(1, Ordering::Relaxed);
        match &t {
            T::Attach(a) => {
                let e = ref_state.last[0].clone();
                sut.run_attach(a, &e);
            }
            T::Detach { ns, name } => {
                let e = ref_state.last[0].clone();
                sut.run_detach(*ns, name, &e);
            }
            T::Forget { ns, name } => {
                let vanished = !ref_state.ns[*ns].ifaces.contains_key(name);
                let was = sut
                    .h
                    .plumber
                    .interfaces(&ns_ref(*ns))
                    .into_iter()
                    .any(|i| &i.name == name && i.state == IfaceState::Vanished);
                if was {
                    assert!(vanished, "model kept a vanished interface");
                    assert!(sut.h.plumber.forget(&ns_ref(*ns), name));
                    FORGOTTEN.fetch_add(1, Ordering::Relaxed);
                    sut.live.remove(&(*ns, name.clone()));
                }
            }
            T::Advance(d) => sut.h.advance(ms(*d)),
            T::ChangeMac { ns, name, seed } => {
                let alive = ref_state.ns[*ns].ifaces.get(name).is_some_and(|i| i.alive);
                if alive {
                    let idx = sut.iface_index(*ns, name).expect("registered");
                    let mac = MacAddr([0x02, 0xee, 0, *ns as u8, 0, *seed]);
                    sut.h.sim.change_mac(&ns_ref(*ns), idx, mac).unwrap();
                    MAC_CHANGES.fetch_add(1, Ordering::Relaxed);
                    if let Some(&i) = sut.live.get(&(*ns, name.clone())) {
                        let pos = sut.h.frame_count();
                        let (now, settle_at) = (sut.h.now(), sut.settle_at);
                        let inst = &mut sut.instances[i];
                        if inst.mac != Some(mac) {
                            inst.mac_changed_pos.get_or_insert(pos);
                            if now < settle_at {
                                inst.mac_grace = Some(settle_at);
                            }
                        }
                        inst.clean = false;
                    }
                }
            }
            T::DeleteLink { ns, name } => {
                let registered_alive = sut.live.contains_key(&(*ns, name.clone()))
                    && !ref_state.ns[*ns].ifaces[name].alive
                    && sut.h.sim.kernel().link_by_name(&ns_ref(*ns), name).is_ok();
                if registered_alive {
                    let idx = sut.iface_index(*ns, name).expect("registered");
                    sut.h.sim.remove_link(&ns_ref(*ns), idx).unwrap();
                    LINKS_DELETED.fetch_add(1, Ordering::Relaxed);
                    let pos = sut.h.frame_count();
                    let i = sut.live[&(*ns, name.clone())];
                    let grace = (sut.h.now() < sut.settle_at).then_some(sut.settle_at);
                    sut.instances[i].deleted.get_or_insert((pos, grace));
                    sut.instances[i].clean = false;
                }
            }
            T::Stp(on) => {
                let br = sut
                    .h
                    .sim
                    .kernel()
                    .link_by_name(&NetnsRef::Host, "br0")
                    .unwrap()
                    .index;
                sut.h.sim.set_stp(&NetnsRef::Host, br, *on).unwrap();
            }
            T::Concurrent {
                attaches,
                detaches,
                jitter_seed,
                jitter_ms,
                delays,
            } => sut.run_group(
                ref_state,
                attaches,
                detaches,
                (*jitter_seed, *jitter_ms),
                delays,
            ),
        }
        if debug {
            for f in nsplumb_tests::frames_from(&sut.h.sim, sut.frames_checked) {
                eprintln!(
                    "    frame {} at {:?}: {} #{} {} from {}",
                    f.pos, f.time, f.netns, f.index, f.ifname, f.src_mac
                );
            }
            for (k, &i) in &sut.live {
                let x = &sut.instances[i];
                eprintln!("    live {k:?}: #{} mac {:?}", x.ifindex, x.mac);
            }
        }
        sut.check_frames();
        sut
    }

    fn check_invariants(sut: &Sut, ref_state: &Model) {
        // Registry == model.
        for (n, m) in ref_state.ns.iter().enumerate() {
            let ns = ns_ref(n);
            let reg = sut.h.plumber.interfaces(&ns);
            let got: BTreeMap<String, (String, bool)> = reg
                .iter()
                .map(|i| {
                    (
                        i.name.clone(),
                        (i.source.clone(), i.state == IfaceState::Vanished),
                    )
                })
                .collect();
            let want: BTreeMap<String, (String, bool)> = m
                .ifaces
                .iter()
                .map(|(k, i)| (k.clone(), (i.src.name(), i.vanished)))
                .collect();
            assert_eq!(got, want, "registry of {ns} vs model");
            assert!(reg
                .iter()
                .all(|i| matches!(i.state, IfaceState::Attached | IfaceState::Vanished)));
            // Kernel links == model; names unique; registered name is the link at its index.
            let k = sut.h.sim.kernel();
            let links = k.list_links(&ns).unwrap();
            let names: Vec<String> = links.iter().map(|l| l.name.clone()).collect();
            let set: BTreeSet<String> = names.iter().cloned().collect();
            assert_eq!(set.len(), names.len(), "names unique in {ns}");
            let mut want: BTreeSet<String> = ["lo".to_string()].into();
            for c in 0..CD {
                if m.cd[c] == Res::Here {
                    want.insert(format!("cd{c}"));
                }
            }
            for (name, i) in &m.ifaces {
                if i.alive {
                    want.insert(name.clone());
                }
            }
            assert_eq!(set, want, "links of {ns} vs model");
            let mut indices = BTreeSet::new();
            for i in &reg {
                let a = i.attached.as_ref().expect("attached record");
                if m.ifaces[&i.name].alive {
                    assert!(
                        indices.insert(a.ifindex),
                        "two live interfaces share ifindex {}",
                        a.ifindex
                    );
                    assert_eq!(k.link_by_index(&ns, a.ifindex).unwrap().name, i.name);
                }
            }
        }
        let k = sut.h.sim.kernel();
        let host: BTreeSet<String> = k
            .list_links(&NetnsRef::Host)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        drop(k);
        let mut want: BTreeSet<String> = ["lo".to_string(), "br0".to_string()].into();
        for (i, r) in ref_state.hd.iter().enumerate() {
            if *r == Res::Here {
                want.insert(format!("hd{i}"));
            }
        }
        for (i, used) in ref_state.vh.iter().enumerate() {
            if *used {
                want.insert(format!("vh{i}"));
            }
        }
        assert_eq!(host, want, "host links vs model");
        // Frames (S2, S3, S5, S6, S8) are checked at the end of `apply`, which owns the
        // counters they update.
    }
}

// SPEC: A15
// SPEC: S5
// SPEC: S6
// SPEC: S8
// SPEC: S2
// SPEC: S3
// SPEC: N2
// SPEC: N3
// SPEC: N4
// SPEC: A5
// SPEC: A8
// SPEC: V9
// SPEC: D2
// SPEC: D3
#[test]
fn model_attach_announce_detach() {
    let cases: u32 = std::env::var("NSPLUMB_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8000);
    let seed = std::env::var("NSPLUMB_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!(
        "model_attach_announce_detach: seed {seed} (NSPLUMB_SEED={seed} to repeat), {cases} cases"
    );
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model.txt",
        ))),
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let support = support();
    println!("  simulator supports: {support:?} (the model predicts the options by it)");
    let started = Instant::now();
    let mut runner = TestRunner::new(config.clone());
    let strategy = ModelRef::sequential_strategy(1..40);
    let result = runner.run(&strategy, |(init, transitions, seen)| {
        ModelTest::test_sequential(config.clone(), init, transitions, seen);
        Ok(())
    });
    println!(
        "model_attach_announce_detach: {} cases ({} transitions) in {:?}",
        CASES.load(Ordering::Relaxed),
        STEPS.load(Ordering::Relaxed),
        started.elapsed()
    );
    println!(
        "  attaches: {} ok, {} failed ({} by an injected fault), {} invalid; {} concurrent groups; \
         {} frames checked; {} exact-count checks",
        ATTACH_OK.load(Ordering::Relaxed),
        ATTACH_FAILED.load(Ordering::Relaxed),
        FAULTS_FATAL.load(Ordering::Relaxed),
        ATTACH_INVALID.load(Ordering::Relaxed),
        GROUPS.load(Ordering::Relaxed),
        FRAMES.load(Ordering::Relaxed),
        EXACT.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        panic!("{e}\n(seed {seed}; NSPLUMB_SEED={seed} cargo test --release --test model)");
    }
    check_floors(cases);
}

/// Issue #12: every kind of step the model counts happened at least a minimum number of times
/// (rates per case well under what the generator gives, so only a generator change that stops
/// exercising one fails this), so no kind can silently drop out.
fn check_floors(cases: u32) {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let by_source = &ATTACH_OK_BY_SOURCE;
    let kinds: [(&str, u64, u32); 17] = [
        (
            "successful attaches of a host link",
            load(&by_source[0]),
            20,
        ),
        (
            "successful attaches of a veth on a bridge",
            load(&by_source[1]),
            20,
        ),
        (
            "successful attaches of a link created in the namespace",
            load(&by_source[2]),
            20,
        ),
        (
            "successful attaches of a new bridge",
            load(&by_source[3]),
            20,
        ),
        ("failed attaches", load(&ATTACH_FAILED), 20),
        ("invalid attaches", load(&ATTACH_INVALID), 100),
        ("armed faults", load(&FAULTS_ARMED), 20),
        (
            "attaches failed by an injected fault",
            load(&FAULTS_FATAL),
            50,
        ),
        ("attaches with an MTU (L1)", load(&WITH_MTU), 20),
        (
            "attaches with port flags (L2, L4)",
            load(&WITH_PORT_FLAGS),
            30,
        ),
        ("attaches with a VLAN (L3)", load(&WITH_VLAN), 100),
        ("detaches", load(&DETACH_OK), 20),
        ("detaches of a vanished link", load(&DETACH_VANISHED), 100),
        ("MAC changes", load(&MAC_CHANGES), 50),
        (
            "links deleted behind nsplumb's back",
            load(&LINKS_DELETED),
            50,
        ),
        ("vanished interfaces forgotten", load(&FORGOTTEN), 200),
        ("concurrent groups", load(&GROUPS), 50),
    ];
    for (what, n, _) in &kinds {
        println!("  {what}: {n}");
    }
    // Below a few hundred cases the rarer kinds may by chance not come up at all.
    assert!(
        cases >= 200,
        "the model needs at least 200 cases to check its step floors (NSPLUMB_MODEL_CASES={cases})"
    );
    let thin: Vec<String> = kinds
        .iter()
        .filter(|(_, n, per)| *n < u64::from(cases / per))
        .map(|(what, n, per)| format!("{what}: {n} < {} (one per {per} cases)", cases / per))
        .collect();
    assert!(
        thin.is_empty(),
        "steps the model no longer exercises enough: {thin:#?}"
    );
}
