//! P1, P2, P4, P6 on the real kernel: `Plumber<LinuxBackend>` in this process, which runs in a
//! private "host" network namespace (see `main.rs`), with container namespaces created here.

use crate::stats::{Figure, Profile, Report};
use ipnet::IpNet;
use nsplumb_core::{BackendExt, Destination, IfIndex, NetnsAdmin, NetnsRef, Plumber, Source, Spec};
use nsplumb_linux::LinuxBackend;
use nsplumb_tests::timed::Timed;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) type Tb = Timed<LinuxBackend>;

pub const BRIDGE: &str = "br-nb";
pub(crate) const GW4: &str = "192.0.2.1";
pub(crate) const GW6: &str = "fd00:bec:1::1";

pub struct Opts {
    pub n: usize,
    /// Experiment: no IPv6 link-local addresses on new links (`addr_gen_mode=1` as the default
    /// of the host and every container namespace), so new ports send no DAD/RS for fe80::.
    pub no_ll6: bool,
    pub p6_sizes: Vec<usize>,
    /// Operations in flight for P1B/P2B (0 = all N at once).
    pub batch_concurrency: Vec<usize>,
    pub scenarios: Vec<String>,
}

impl Opts {
    fn wants(&self, s: &str) -> bool {
        self.scenarios.iter().any(|x| x.eq_ignore_ascii_case(s))
    }
}

pub(crate) struct World {
    pub(crate) backend: LinuxBackend,
    pub(crate) timed: Arc<Tb>,
    plumber: Plumber<Tb>,
    pub(crate) ns: Vec<NetnsRef>,
    pub(crate) bridge: IfIndex,
}

pub(crate) fn e<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |err| format!("{what}: {err}")
}

pub(crate) fn mac(i: usize) -> String {
    let x = i + 2;
    format!("02:42:c0:00:{:02x}:{:02x}", (x >> 8) & 0xff, x & 0xff)
}

/// The attach-bench `ipb` address plan: eth0, MAC, 192.0.2.x/24, fd00:bec:1::x/64, no announce.
pub(crate) fn p1_spec(i: usize, source: Source) -> Spec {
    let mut s = Spec::new(source, Destination::Name("eth0".into()));
    s.mac = Some(mac(i));
    s.ipv4 = Some(format!("192.0.2.{}/24", 2 + i % 250));
    s.ipv6 = Some(format!("fd00:bec:1::{:x}/64", i + 2));
    s.announce_count = 0;
    s
}

/// P6: the same spec whether the interfaces share a namespace or not (an IPv4 /32 and an IPv6
/// /64 of its own, so N interfaces in one namespace have no conflicting routes, SPEC A5).
fn p6_spec(i: usize, source: Source, name: String) -> Spec {
    let mut s = Spec::new(source, Destination::Name(name));
    s.mac = Some(mac(i));
    s.ipv4 = Some(format!("192.0.2.{}/32", 2 + i % 250));
    s.ipv6 = Some(format!("fd00:bec:6:{:x}::2/64", i));
    s.announce_count = 0;
    s
}

/// The private host's loopback up and a bridge `name` with `addresses` (CIDR, NODAD), up.
pub(crate) async fn host_bridge(
    backend: &LinuxBackend,
    name: &str,
    addresses: &[(String, bool)],
) -> Result<IfIndex, String> {
    let host = NetnsRef::Host;
    let lo = backend.link_by_name(&host, "lo").await.map_err(e("lo"))?;
    backend
        .set_link_up(&host, lo.index)
        .await
        .map_err(e("lo up"))?;
    let bridge = backend
        .create_bridge(&host, name, Default::default())
        .await
        .map_err(e("create the bridge"))?;
    for (a, nodad) in addresses {
        let net: IpNet = a.parse().map_err(e("address"))?;
        backend
            .add_address(&host, bridge, net, *nodad)
            .await
            .map_err(e("bridge address"))?;
    }
    backend
        .set_link_up(&host, bridge)
        .await
        .map_err(e("bridge up"))?;
    Ok(bridge)
}

impl World {
    async fn new() -> Result<World, String> {
        let backend = LinuxBackend::new().map_err(e("open the Linux backend"))?;
        let timed = Arc::new(Timed::new(backend.clone()));
        let plumber = Plumber::new(
            timed.clone(),
            Arc::new(|f| {
                tokio::spawn(f);
            }),
        );
        let bridge = host_bridge(
            &backend,
            BRIDGE,
            &[(format!("{GW4}/24"), false), (format!("{GW6}/64"), true)],
        )
        .await?;
        Ok(World {
            backend,
            timed,
            plumber,
            ns: Vec::new(),
            bridge,
        })
    }

    async fn ensure_ns(&mut self, count: usize) -> Result<(), String> {
        if self.ns.len() >= count {
            return Ok(());
        }
        let t = Instant::now();
        let from = self.ns.len();
        while self.ns.len() < count {
            let name = format!("nb{}", self.ns.len());
            let ns = self
                .backend
                .create_netns(&name)
                .await
                .map_err(e("create a namespace"))?;
            self.ns.push(ns);
        }
        eprintln!(
            "[nsplumb-bench] created namespaces nb{from}..nb{} in {:.0} ms (setup, not measured)",
            count - 1,
            t.elapsed().as_secs_f64() * 1e3
        );
        Ok(())
    }

    /// Close every cached socket: the next attach into each namespace is a first contact, as
    /// at container start (a new namespace per container).
    pub(crate) fn cold(&self) {
        for ns in &self.ns {
            self.backend.forget_netns(ns);
        }
    }

    async fn host_index(&self, name: &str) -> Result<IfIndex, String> {
        self.backend
            .link_by_name(&NetnsRef::Host, name)
            .await
            .map(|l| l.index)
            .map_err(e("host end"))
    }

    async fn gateways(&self, ns: &NetnsRef) -> Result<(), String> {
        for gw in [GW4, GW6] {
            let ip: IpAddr = gw.parse().map_err(e("gateway"))?;
            self.plumber
                .set_gateway(ns, Some(ip))
                .await
                .map_err(e("set gateway"))?;
        }
        Ok(())
    }

    /// Attach N interfaces, one by one, one per namespace; (attach, attach + gateways).
    async fn attach_pass(
        &self,
        n: usize,
        source: impl Fn(usize) -> Source,
    ) -> Result<(Vec<Duration>, Vec<Duration>, Duration), String> {
        self.attach_pass_of(n, |i| p1_spec(i, source(i))).await
    }

    /// [`World::attach_pass`] with any spec per interface (P1opts: the same with link options).
    async fn attach_pass_of(
        &self,
        n: usize,
        spec_of: impl Fn(usize) -> Spec,
    ) -> Result<(Vec<Duration>, Vec<Duration>, Duration), String> {
        let mut a = Vec::with_capacity(n);
        let mut ag = Vec::with_capacity(n);
        let start = Instant::now();
        for i in 0..n {
            let ns = &self.ns[i];
            let spec = spec_of(i);
            let t0 = Instant::now();
            self.plumber
                .attach(ns, spec)
                .await
                .map_err(|err| format!("attach {i}: {err}"))?;
            let t1 = Instant::now();
            self.gateways(ns).await?;
            let t2 = Instant::now();
            a.push(t1 - t0);
            ag.push(t2 - t0);
        }
        Ok((a, ag, start.elapsed()))
    }

    /// Delete host ends as one batch (untimed cleanup) and forget the interfaces.
    pub(crate) async fn batch_cleanup(&self, host_names: &[String], forget: &[(NetnsRef, String)]) {
        let mut idx = Vec::new();
        for h in host_names {
            if let Ok(i) = self.host_index(h).await {
                idx.push(i);
            }
        }
        if !idx.is_empty() {
            if let Err(err) = self.backend.delete_links(&NetnsRef::Host, &idx).await {
                eprintln!("[nsplumb-bench] cleanup: {err}");
            }
        }
        for (ns, name) in forget {
            self.plumber.forget(ns, name);
        }
    }
}

pub(crate) fn veth_src(prefix: &'static str) -> impl Fn(usize) -> Source {
    move |i| Source::VethOnBridge {
        bridge: BRIDGE.into(),
        host_name: format!("{prefix}{i}"),
    }
}

pub async fn run(opts: &Opts, report: &mut Report) -> Result<(), String> {
    let n = opts.n;
    let mut w = World::new().await?;
    let mut max_ns = n;
    if opts.wants("P6") {
        max_ns = max_ns.max(opts.p6_sizes.iter().copied().max().unwrap_or(0));
    }
    w.ensure_ns(max_ns).await?;
    if opts.no_ll6 {
        let key = "net/ipv6/conf/default/addr_gen_mode";
        let mut all = vec![NetnsRef::Host];
        all.extend(w.ns.iter().cloned());
        for ns in &all {
            w.backend
                .write_sysctl(ns, key, "1")
                .await
                .map_err(e("addr_gen_mode"))?;
        }
        report
            .notes
            .push("experiment --no-ll6: addr_gen_mode=1 by default in every namespace".into());
    }
    let ifs: Vec<(NetnsRef, String)> = w.ns[..n]
        .iter()
        .map(|ns| (ns.clone(), "eth0".to_string()))
        .collect();
    let p1_hosts: Vec<String> = (0..n).map(|i| format!("nbv{i}")).collect();

    if opts.wants("NS") {
        let NetnsRef::Path(p) = &w.ns[0] else {
            return Err("namespace 0 has no path".into());
        };
        crate::nsswitch::run(std::path::Path::new(&**p), 200, report).await?;
    }

    if opts.wants("P1") || opts.wants("P4") {
        // ---- P1: veth fast path, cold namespaces (first contact, as at container start)
        w.cold();
        w.timed.take();
        let (a, ag, wall) = w.attach_pass(n, veth_src("nbv")).await?;
        report.push(Figure::from_durations(
            "P1.attach",
            "P1 attach, veth born in the namespace (VethOnBridge), announce off",
            &a,
        ));
        report.push(Figure::from_durations(
            "P1.attach+gw",
            "P1 attach + default routes v4/v6 (what ip-batch-direct does)",
            &ag,
        ));
        report
            .profiles
            .push(Profile::new("P1 attach+gw (cold)", n, wall, w.timed.take()));

        // ---- P4: detach one by one (the Plumber's full detach)
        let mut d = Vec::with_capacity(n);
        let start = Instant::now();
        for (ns, name) in &ifs {
            let t = Instant::now();
            w.plumber
                .detach(ns, name)
                .await
                .map_err(|err| format!("detach {ns}: {err}"))?;
            d.push(t.elapsed());
        }
        let wall = start.elapsed();
        report.push(Figure::from_durations(
            "P4.detach",
            "P4 detach one by one (Plumber::detach)",
            &d,
        ));
        report.profiles.push(Profile::new(
            "P4 detach one by one",
            n,
            wall,
            w.timed.take(),
        ));

        // ---- P1 again on warm namespaces (cached sockets), then P4 as one kernel batch
        w.timed.take();
        let (a, ag, wall) = w.attach_pass(n, veth_src("nbv")).await?;
        report
            .profiles
            .push(Profile::new("P1 attach+gw (warm)", n, wall, w.timed.take()));
        report.push(Figure::from_durations(
            "P1.attach.warm",
            "P1 attach, namespaces already known (cached netlink sockets)",
            &a,
        ));
        report.push(Figure::from_durations(
            "P1.attach+gw.warm",
            "P1 attach + gateways, namespaces already known",
            &ag,
        ));
        w.timed.take();
        let items: Vec<(&NetnsRef, &str)> =
            ifs.iter().map(|(ns, name)| (ns, name.as_str())).collect();
        let t = Instant::now();
        let outcomes = w.plumber.detach_many(&items).await;
        let total = t.elapsed();
        if let Some((i, Err(err))) = outcomes.iter().enumerate().find(|(_, o)| o.is_err()) {
            return Err(format!(
                "detach_many: {} in {}: {err}",
                items[i].1, items[i].0
            ));
        }
        report.push(Figure::batch(
            "P4.batch",
            "P4 detach as one kernel batch (Plumber::detach_many: set down one by one, one link-group delete of the host ends), per interface",
            total,
            n,
        ));
        report
            .profiles
            .push(Profile::new("P4 detach_many", n, total, w.timed.take()));

        // ---- P4 reference: the kernel delete alone, one link per call
        w.attach_pass(n, veth_src("nbv")).await?;
        let mut idx = Vec::with_capacity(n);
        for h in &p1_hosts {
            idx.push(w.host_index(h).await?);
        }
        let mut d = Vec::with_capacity(n);
        for i in &idx {
            let t = Instant::now();
            w.timed
                .delete_links(&NetnsRef::Host, std::slice::from_ref(i))
                .await
                .map_err(e("delete one"))?;
            d.push(t.elapsed());
        }
        for (ns, name) in &ifs {
            w.plumber.forget(ns, name);
        }
        report.push(Figure::from_durations(
            "P4.delete1",
            "P4 reference: delete_links of one host end per call (kernel only)",
            &d,
        ));
        w.timed.take();
    }

    if opts.wants("P1opts") {
        p1_options(&w, n, &ifs, report).await?;
    }

    if opts.wants("P2") {
        // ---- P2: the move path. Pre-create veth pairs in the host (host end on the bridge).
        w.cold();
        let mut create = Vec::with_capacity(n);
        for i in 0..n {
            let req = nsplumb_core::VethRequest {
                host_name: format!("nbh{i}"),
                host_master: Some(w.bridge),
                host_up: true,
                peer_netns: NetnsRef::Host,
                peer_name: format!("nbp{i}"),
                peer_mac: None,
                mtu: None,
            };
            let t = Instant::now();
            w.backend
                .create_veth(&NetnsRef::Host, &req)
                .await
                .map_err(e("pre-create veth"))?;
            create.push(t.elapsed());
        }
        w.timed.take();
        let (a, ag, wall) = w
            .attach_pass(n, |i| Source::HostLink(format!("nbp{i}")))
            .await?;
        let with_create: Vec<Duration> = ag.iter().zip(&create).map(|(x, c)| *x + *c).collect();
        report.push(Figure::from_durations(
            "P2.create",
            "P2 setup: veth pair in the host, host end on the bridge and up (one RTM_NEWLINK)",
            &create,
        ));
        report.push(Figure::from_durations(
            "P2.attach",
            "P2 attach of an existing host link (move + rename in one message), announce off",
            &a,
        ));
        report.push(Figure::from_durations(
            "P2.attach+gw",
            "P2 attach + default routes v4/v6",
            &ag,
        ));
        report.push(Figure::from_durations(
            "P2.create+attach+gw",
            "P2 veth creation + attach + gateways (what ip-batch does per interface)",
            &with_create,
        ));
        report.profiles.push(Profile::new(
            "P2 attach+gw (move path)",
            n,
            wall,
            w.timed.take(),
        ));
        let mut d = Vec::with_capacity(n);
        for (ns, name) in &ifs {
            let t = Instant::now();
            w.plumber
                .detach(ns, name)
                .await
                .map_err(|err| format!("detach {ns}: {err}"))?;
            d.push(t.elapsed());
        }
        report.push(Figure::from_durations(
            "P2.detach",
            "P2 detach one by one (moves the link back to the host)",
            &d,
        ));
        let hosts: Vec<String> = (0..n).map(|i| format!("nbh{i}")).collect();
        w.batch_cleanup(&hosts, &[]).await;
        w.timed.take();
    }

    let levels = crate::batch::levels(&opts.batch_concurrency, n);
    if opts.wants("P1B") {
        crate::batch::p1(&w, n, &levels, report).await?;
    }
    if opts.wants("P2B") {
        crate::batch::p2(&w, n, &levels, report).await?;
    }

    if opts.wants("P6") {
        for &size in &opts.p6_sizes {
            // Across namespaces: interface i in namespace i.
            w.cold();
            w.timed.take();
            let mut a = Vec::with_capacity(size);
            let start = Instant::now();
            for i in 0..size {
                let src = Source::VethOnBridge {
                    bridge: BRIDGE.into(),
                    host_name: format!("nbx{i}"),
                };
                let t = Instant::now();
                w.plumber
                    .attach(&w.ns[i], p6_spec(i, src, "eth0".into()))
                    .await
                    .map_err(|err| format!("P6 across attach {i}: {err}"))?;
                a.push(t.elapsed());
            }
            let wall = start.elapsed();
            push_p6(
                report,
                &format!("P6.across.N{size}"),
                "across namespaces",
                size,
                &a,
            );
            report.profiles.push(Profile::new(
                &format!("P6 across namespaces N={size}"),
                size,
                wall,
                w.timed.take(),
            ));
            let hosts: Vec<String> = (0..size).map(|i| format!("nbx{i}")).collect();
            let forget: Vec<(NetnsRef, String)> = (0..size)
                .map(|i| (w.ns[i].clone(), "eth0".into()))
                .collect();
            w.batch_cleanup(&hosts, &forget).await;

            // One namespace: eth0..eth{N-1} in nb0.
            w.cold();
            w.timed.take();
            let mut a = Vec::with_capacity(size);
            let start = Instant::now();
            for i in 0..size {
                let src = Source::VethOnBridge {
                    bridge: BRIDGE.into(),
                    host_name: format!("nby{i}"),
                };
                let t = Instant::now();
                w.plumber
                    .attach(&w.ns[0], p6_spec(i, src, format!("eth{i}")))
                    .await
                    .map_err(|err| format!("P6 one-namespace attach {i}: {err}"))?;
                a.push(t.elapsed());
            }
            let wall = start.elapsed();
            push_p6(
                report,
                &format!("P6.one.N{size}"),
                "in one namespace",
                size,
                &a,
            );
            report.profiles.push(Profile::new(
                &format!("P6 one namespace N={size}"),
                size,
                wall,
                w.timed.take(),
            ));
            let hosts: Vec<String> = (0..size).map(|i| format!("nby{i}")).collect();
            let forget: Vec<(NetnsRef, String)> = (0..size)
                .map(|i| (w.ns[0].clone(), format!("eth{i}")))
                .collect();
            w.batch_cleanup(&hosts, &forget).await;
        }
    }
    Ok(())
}

/// All attaches, and the last tenth (when ~N interfaces are live) separately.
fn push_p6(report: &mut Report, id: &str, what: &str, size: usize, a: &[Duration]) {
    report.push(Figure::from_durations(
        id,
        &format!("P6 attach {what}, N={size}, all attaches"),
        a,
    ));
    let tail = &a[a.len() - (a.len() / 10).max(1)..];
    report.push(Figure::from_durations(
        &format!("{id}.last10%"),
        &format!("P6 attach {what}, N={size}, last tenth (N live)"),
        tail,
    ));
}

/// The link options this kernel has (SPEC L1, L2, L4): an MTU on both veth ends at creation and
/// hairpin + isolation on the host end's bridge port. VLANs (L3) are refused by this project's
/// kernels (no `CONFIG_BRIDGE_VLAN_FILTERING`), and DAD (L5) waits for the kernel's own probes
/// (about a second) by design, so neither is a cost of nsplumb's to compare.
fn with_options(mut spec: Spec) -> Spec {
    spec.mtu = Some(1400);
    spec.hairpin = true;
    spec.isolated = true;
    spec
}

/// P1 with every option on against every option off, interleaved in one run (off, on, on,
/// off) after one untimed pass that warms the namespaces (first contact costs more), so
/// that neither side gets the cold pass and drift in the machine's load falls on both alike.
async fn p1_options(
    w: &World,
    n: usize,
    ifs: &[(NetnsRef, String)],
    report: &mut Report,
) -> Result<(), String> {
    let items: Vec<(&NetnsRef, &str)> = ifs.iter().map(|(ns, name)| (ns, name.as_str())).collect();
    let mut off = Vec::with_capacity(2 * n);
    let mut on = Vec::with_capacity(2 * n);
    for (timed, options) in [
        (false, false),
        (true, false),
        (true, true),
        (true, true),
        (true, false),
    ] {
        let src = veth_src("nbo");
        let (a, _, _) = w
            .attach_pass_of(n, |i| {
                let spec = p1_spec(i, src(i));
                if options {
                    with_options(spec)
                } else {
                    spec
                }
            })
            .await?;
        match (timed, options) {
            (false, _) => {}
            (true, true) => on.extend(a),
            (true, false) => off.extend(a),
        }
        for (i, outcome) in w.plumber.detach_many(&items).await.into_iter().enumerate() {
            outcome.map_err(|err| format!("P1opts detach {}: {err}", items[i].0))?;
        }
    }
    report.push(Figure::from_durations(
        "P1opts.off",
        "P1 attach, no link options (interleaved with P1opts.on)",
        &off,
    ));
    report.push(Figure::from_durations(
        "P1opts.on",
        "P1 attach with MTU 1400 on both veth ends, hairpin and isolated port (SPEC L1, L2, L4)",
        &on,
    ));
    Ok(())
}
