//! The subcommands, generic over the backend.

use crate::cli::{AttachArgs, Command, DetachArgs, ListArgs, NetnsAction, StatsArgs};
use crate::intent;
use crate::journal::{Entry, SpecRecord};
use crate::output;
use crate::state::Announcer;
use crate::store::Store;
use nsplumb_core::{
    validate, AttachError, Destination, DetachError, Event, EventKind, NetBackend, NetnsRef,
    Plumber, Source, Spec, DEFAULT_ANNOUNCE_INTERVAL,
};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Exit status 1: the operation failed (and was rolled back).
pub const EXIT_FAILED: i32 = 1;
/// Exit status 2: invalid input, nothing touched.
pub const EXIT_INVALID: i32 = 2;

/// A failed command: its exit status and the one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_FAILED,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_INVALID,
            message: message.into(),
        }
    }
}

/// Everything a command needs.
pub struct Ctx<B: NetBackend> {
    pub plumber: Plumber<B>,
    pub store: Store,
    pub json: bool,
    /// `NAME` → the namespace under the backend's directory; a path stays a path.
    pub resolve: Box<dyn Fn(&str) -> NetnsRef + Send + Sync>,
}

/// A host-end name for `--veth-on-bridge`: `vnsp` + 8 hex digits from pid, time and a counter.
pub fn generate_host_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = (std::process::id() as u64) << 32
        ^ nanos
        ^ ((COUNTER.fetch_add(1, Ordering::Relaxed) as u64) << 20);
    // splitmix64 finaliser, so close inputs give far-apart names.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    x ^= x >> 31;
    format!("vnsp{:08x}", x as u32)
}

/// The spec and gateways an `attach` asks for; bad gateways are invalid input.
pub fn build_spec(args: &AttachArgs) -> Result<(Spec, Vec<IpAddr>), Failure> {
    let source = match (&args.link, &args.veth_on_bridge) {
        (_, Some(bridge)) => Source::VethOnBridge {
            bridge: bridge.clone(),
            host_name: generate_host_name(),
        },
        (Some(link), None) if args.bridge => Source::NewBridge(link.clone()),
        (Some(link), None) if args.created_in_netns => Source::CreatedInNamespace(link.clone()),
        (Some(link), None) => Source::HostLink(link.clone()),
        (None, None) => {
            return Err(Failure::invalid(
                "attach needs --link SRC or --veth-on-bridge BRIDGE",
            ))
        }
    };
    let destination = match (&args.name, &args.prefix) {
        (Some(n), _) => Destination::Name(n.clone()),
        (None, Some(p)) => Destination::Prefix(p.clone()),
        (None, None) => {
            return Err(Failure::invalid(
                "attach needs --name NAME or --prefix PREFIX",
            ))
        }
    };
    let mut spec = Spec::new(source, destination);
    spec.mac = args.mac.clone();
    spec.ipv4 = args.ipv4.clone();
    spec.ipv6 = args.ipv6.clone();
    spec.link_local = args.link_local.clone();
    spec.routes = args.route.clone();
    spec.sysctls = args.sysctl.clone();
    spec.master = args.master.clone();
    if let Some(c) = args.announce_count {
        spec.announce_count = c;
    }
    spec.announce_interval = args
        .announce_interval_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_ANNOUNCE_INTERVAL);
    let mut gateways = Vec::new();
    let mut bad = Vec::new();
    for g in &args.gateway {
        match g.parse::<IpAddr>() {
            Ok(ip) => gateways.push(ip),
            Err(_) => bad.push(format!("gateway {g:?}: is not an IP address")),
        }
    }
    // Report every problem at once: the spec's own and the gateways'.
    let mut problems: Vec<String> = match validate(&spec) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
    };
    problems.extend(bad);
    if !problems.is_empty() {
        let dst = match &spec.destination {
            Destination::Name(n) => format!(" as {}", one_line(n)),
            Destination::Prefix(p) => format!(" as {}N", one_line(p)),
        };
        return Err(Failure::invalid(format!(
            "attach of {}{dst} in namespace {}: invalid interface spec: {}",
            one_line(spec.source.name()),
            one_line(&args.netns),
            problems.join("; ")
        )));
    }
    Ok((spec, gateways))
}

/// `s` as it is, or quoted and escaped when it holds a control character (a newline in a bad
/// name must not split the one-line error, SPEC R3).
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        format!("{s:?}").into()
    } else {
        s.into()
    }
}

fn check_ns_name(what: &str, s: &str) -> Result<(), Failure> {
    if s.is_empty() || s.contains('\0') || s.contains('\n') {
        return Err(Failure::invalid(format!(
            "{what} {s:?}: is not a namespace name or path"
        )));
    }
    Ok(())
}

/// Run one subcommand (not `tui`): prints its output, returns its failure.
pub async fn run<B: NetBackend>(ctx: &Ctx<B>, command: &Command) -> Result<(), Failure> {
    match command {
        Command::Netns { action } => netns(ctx, action).await,
        Command::Attach(args) => attach(ctx, args).await,
        Command::Detach(args) => detach(ctx, args).await,
        Command::Forget(args) => forget(ctx, args).await,
        Command::List(args) => list(ctx, args).await,
        Command::Stats(args) => stats(ctx, args).await,
        Command::Tui | Command::BenchTui { .. } => Ok(()),
    }
}

async fn netns<B: NetBackend>(ctx: &Ctx<B>, action: &NetnsAction) -> Result<(), Failure> {
    let backend = ctx.plumber.backend();
    match action {
        NetnsAction::Add { name } => {
            check_ns_name("namespace name", name)?;
            if name.contains('/')
                || name == "."
                || name == ".."
                || name == "host"
                || name.len() > 255
            {
                return Err(Failure::invalid(format!(
                    "namespace name {name:?}: must be a plain name (no '/', not '.', '..' or 'host')"
                )));
            }
            let ns = backend
                .create_netns(name)
                .await
                .map_err(|e| Failure::failed(format!("failed to create namespace {name}: {e}")))?;
            ctx.store
                .journal(Entry::NetnsAdd { name: name.clone() })
                .map_err(Failure::failed)?;
            output::print_netns_added(ctx.json, &ns);
            Ok(())
        }
        NetnsAction::Del { name } => {
            check_ns_name("namespace", name)?;
            let ns = (ctx.resolve)(name);
            if ns.is_host() {
                return Err(Failure::invalid("the host namespace cannot be deleted"));
            }
            ctx.store.forget_ns(&ns);
            backend
                .delete_netns(&ns)
                .await
                .map_err(|e| Failure::failed(format!("failed to delete namespace {ns}: {e}")))?;
            ctx.store
                .journal(Entry::NetnsDel {
                    netns: ns.to_string(),
                })
                .map_err(Failure::failed)?;
            output::print_ok(ctx.json, &format!("deleted namespace {ns}"));
            Ok(())
        }
        NetnsAction::List => {
            let list = backend
                .list_netns()
                .await
                .map_err(|e| Failure::failed(format!("failed to list namespaces: {e}")))?;
            output::print_netns_list(ctx.json, &list);
            Ok(())
        }
    }
}

async fn attach<B: NetBackend>(ctx: &Ctx<B>, args: &AttachArgs) -> Result<(), Failure> {
    check_ns_name("namespace", &args.netns)?;
    let (spec, gateways) = build_spec(args)?;
    let netns = (ctx.resolve)(&args.netns);
    let mut guard = ctx
        .store
        .begin(&ctx.plumber, &netns)
        .await
        .map_err(Failure::failed)?;
    let source_name = spec.source.name().to_string();
    // Written down before the kernel is touched: a crash from here on is recoverable.
    ctx.store
        .intend_attach(&ctx.plumber, &mut guard, &spec)
        .map_err(|e| {
            Failure::failed(format!(
                "attach of {source_name} in namespace {netns}: cannot save its intent: {e}"
            ))
        })?;
    intent::test_abort_point("before-kernel-attach");
    let mut events = ctx.plumber.subscribe();
    let record = SpecRecord::from_spec(&spec);
    let (dest_name, dest_prefix) = match &spec.destination {
        Destination::Name(n) => (Some(n.clone()), None),
        Destination::Prefix(p) => (None, Some(p.clone())),
    };
    let attached = match ctx.plumber.attach(&netns, spec).await {
        Ok(a) => a,
        Err(e @ AttachError::Invalid(_)) => {
            let _ = ctx.store.commit(&ctx.plumber, guard, None);
            return Err(Failure::invalid(format!(
                "attach of {source_name} in namespace {netns}: {e}"
            )));
        }
        Err(e) => {
            let _ = ctx.store.journal(Entry::AttachFailed {
                netns: netns.to_string(),
                name: dest_name,
                prefix: dest_prefix,
                spec: Box::new(record),
            });
            let _ = ctx.store.commit(&ctx.plumber, guard, None);
            return Err(Failure::failed(format!(
                "attach of {source_name} in namespace {netns} failed: {e}"
            )));
        }
    };
    let name = attached.name.clone();
    ctx.store
        .journal(Entry::Attach {
            netns: netns.to_string(),
            name: name.clone(),
            spec: Box::new(record),
            announcer: None,
        })
        .map_err(Failure::failed)?;
    intent::test_abort_point("after-kernel-attach");
    for gw in &gateways {
        if let Err(e) = ctx.store.set_gateway(&ctx.plumber, &mut guard, *gw).await {
            // Roll the attach back: the command as a whole failed.
            let undo = ctx.plumber.detach(&netns, &name).await;
            let _ = ctx.store.journal(Entry::Detach {
                netns: netns.to_string(),
                name: name.clone(),
            });
            let mut msg = format!("set gateway {gw} for {name} in namespace {netns} failed: {e}");
            if let Err(u) = &undo {
                msg.push_str(&format!("; rollback (detach) also failed: {u}"));
            }
            let _ = ctx.store.commit(&ctx.plumber, guard, None);
            return Err(Failure::failed(msg));
        }
    }
    // Still announcing? Only if no AnnounceStopped for it was seen during attach.
    let mut pending = Vec::new();
    while let Ok(ev) = events.try_recv() {
        pending.push(ev);
    }
    let mut stopped = pending.iter().any(|ev| is_stop_for(ev, &netns, &name));
    if attached.announce.count <= 1 {
        stopped = true;
    }
    let me = if stopped { None } else { Announcer::me() };
    if let Err(e) = ctx
        .store
        .commit(&ctx.plumber, guard, me.map(|a| (name.as_str(), a)))
    {
        // Without its record no later process could detach it: undo.
        let undo = ctx.plumber.detach(&netns, &name).await;
        let _ = ctx.store.journal(Entry::Detach {
            netns: netns.to_string(),
            name: name.clone(),
        });
        let mut msg = format!("attach of {name} in namespace {netns}: {e}; the attach was undone");
        if let Err(u) = undo {
            msg.push_str(&format!(" (detach failed: {u})"));
        }
        return Err(Failure::failed(msg));
    }
    ctx.store.release_journal();
    output::print_attached(ctx.json, &attached, &gateways);
    if !stopped {
        // Stay until the remaining announcements are sent (S5).
        let a = attached.announce;
        let budget = a.interval * a.count + Duration::from_secs(7);
        let wait = async {
            use futures::StreamExt;
            while let Some(ev) = events.next().await {
                if is_stop_for(&ev, &netns, &name) {
                    break;
                }
            }
        };
        if tokio::time::timeout(budget, wait).await.is_err() {
            tracing::warn!(iface = %name, %netns, "announcements did not finish in time");
        }
        ctx.store.clear_announcer(&netns, &name).await;
    }
    Ok(())
}

fn is_stop_for(ev: &Event, netns: &NetnsRef, name: &str) -> bool {
    ev.iface == name && ev.netns == *netns && matches!(ev.kind, EventKind::AnnounceStopped(_))
}

/// The namespace of a `--netns NS --name NAME` command, once both are valid (SPEC V rules):
/// invalid input is refused before anything is touched.
fn checked_netns<B: NetBackend>(ctx: &Ctx<B>, args: &DetachArgs) -> Result<NetnsRef, Failure> {
    check_ns_name("namespace", &args.netns)?;
    if let Err(r) = nsplumb_core::check_ifname(&args.name) {
        return Err(Failure::invalid(format!(
            "invalid interface spec: name {:?}: {r}",
            args.name
        )));
    }
    Ok((ctx.resolve)(&args.netns))
}

async fn detach<B: NetBackend>(ctx: &Ctx<B>, args: &DetachArgs) -> Result<(), Failure> {
    let netns = checked_netns(ctx, args)?;
    let mut guard = ctx
        .store
        .begin(&ctx.plumber, &netns)
        .await
        .map_err(Failure::failed)?;
    let ifindex = ctx
        .plumber
        .interfaces(&netns)
        .into_iter()
        .find(|i| i.name == args.name)
        .and_then(|i| i.attached.map(|a| a.ifindex));
    if ifindex.is_some() {
        // Marked before the kernel is touched: a crash from here on is recoverable.
        ctx.store
            .intend_detach(&ctx.plumber, &mut guard, &args.name)
            .map_err(|e| {
                Failure::failed(format!(
                    "detach of {} from namespace {netns}: cannot save its state: {e}",
                    args.name
                ))
            })?;
    }
    intent::test_abort_point("before-kernel-detach");
    ctx.store.stop_announcer(&mut guard, &args.name).await;
    let result = ctx.plumber.detach(&netns, &args.name).await;
    // Journaled even when it failed: the simulator replays exactly what happened.
    ctx.store
        .journal(Entry::Detach {
            netns: netns.to_string(),
            name: args.name.clone(),
        })
        .map_err(Failure::failed)?;
    intent::test_abort_point("after-kernel-detach");
    let mut gateway_error = None;
    if let (Ok(()), Some(index)) = (&result, ifindex) {
        // G4: the gateway routes on this link go with it.
        gateway_error = ctx
            .store
            .drop_gateways_on(&ctx.plumber, &mut guard, index)
            .await
            .err();
    }
    ctx.store
        .commit(&ctx.plumber, guard, None)
        .map_err(Failure::failed)?;
    match result {
        Ok(()) => {
            if let Some(e) = gateway_error {
                return Err(Failure::failed(format!(
                    "detached {} from namespace {netns}, but {e}",
                    args.name
                )));
            }
            output::print_ok(
                ctx.json,
                &format!("detached {} from namespace {netns}", args.name),
            );
            Ok(())
        }
        Err(e @ DetachError::NotAttached { .. }) => Err(Failure::failed(format!("detach: {e}"))),
        Err(e) => Err(Failure::failed(format!(
            "detach of {} from namespace {netns} failed: {e}",
            args.name
        ))),
    }
}

/// SPEC D3: drop the record of an interface whose link vanished, freeing its name. A link
/// that is still there is refused: detach restores it, forgetting would strand it.
async fn forget<B: NetBackend>(ctx: &Ctx<B>, args: &DetachArgs) -> Result<(), Failure> {
    let netns = checked_netns(ctx, args)?;
    let mut guard = ctx
        .store
        .begin(&ctx.plumber, &netns)
        .await
        .map_err(Failure::failed)?;
    let iface = ctx
        .plumber
        .interfaces(&netns)
        .into_iter()
        .find(|i| i.name == args.name);
    let Some(attached) = iface.and_then(|i| i.attached) else {
        return Err(Failure::failed(format!(
            "forget: interface {:?} is not attached in namespace {netns}",
            args.name
        )));
    };
    let still_there = ctx
        .plumber
        .backend()
        .link_by_index(&netns, attached.ifindex)
        .await
        .is_ok_and(|l| l.name == args.name);
    if still_there {
        return Err(Failure::failed(format!(
            "forget: interface {:?} is still in namespace {netns} (ifindex {}); detach it instead",
            args.name, attached.ifindex
        )));
    }
    ctx.plumber.forget(&netns, &args.name);
    ctx.store
        .journal(Entry::Forget {
            netns: netns.to_string(),
            name: args.name.clone(),
        })
        .map_err(Failure::failed)?;
    ctx.store
        .drop_gateways_on(&ctx.plumber, &mut guard, attached.ifindex)
        .await
        .map_err(Failure::failed)?;
    ctx.store
        .commit(&ctx.plumber, guard, None)
        .map_err(Failure::failed)?;
    output::print_ok(
        ctx.json,
        &format!(
            "forgot vanished interface {} in namespace {netns}",
            args.name
        ),
    );
    Ok(())
}

async fn list<B: NetBackend>(ctx: &Ctx<B>, args: &ListArgs) -> Result<(), Failure> {
    let namespaces = match &args.netns {
        Some(n) => {
            check_ns_name("namespace", n)?;
            vec![(ctx.resolve)(n)]
        }
        None => ctx
            .plumber
            .backend()
            .list_netns()
            .await
            .map_err(|e| Failure::failed(format!("failed to list namespaces: {e}")))?,
    };
    let mut all = Vec::new();
    for ns in &namespaces {
        // Which links nsplumb manages, from the state file (read without waiting for a lock).
        ctx.store.refresh(&ctx.plumber, ns).await;
        match ctx.plumber.list(ns).await {
            Ok(links) => all.push((ns.clone(), links)),
            Err(e) if args.netns.is_some() => return Err(Failure::failed(e.to_string())),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    output::print_list(ctx.json, &all);
    Ok(())
}

async fn stats<B: NetBackend>(ctx: &Ctx<B>, args: &StatsArgs) -> Result<(), Failure> {
    check_ns_name("namespace", &args.netns)?;
    if let Some(n) = &args.name {
        if let Err(r) = nsplumb_core::check_ifname(n) {
            return Err(Failure::invalid(format!("name {n:?}: {r}")));
        }
    }
    let netns = (ctx.resolve)(&args.netns);
    let names: Vec<(u32, String)> = match &args.name {
        Some(n) => {
            let link = ctx
                .plumber
                .backend()
                .link_by_name(&netns, n)
                .await
                .map_err(|e| {
                    Failure::failed(format!(
                        "failed to retrieve the statistics for {n} in netns {netns}: {e}"
                    ))
                })?;
            vec![(link.index, link.name)]
        }
        None => ctx
            .plumber
            .backend()
            .list_links(&netns)
            .await
            .map_err(|e| {
                Failure::failed(format!("failed to list links of namespace {netns}: {e}"))
            })?
            .into_iter()
            .map(|l| (l.index, l.name))
            .collect(),
    };
    let mut rows = Vec::new();
    for (index, name) in names {
        let s = ctx
            .plumber
            .statistics(&netns, &name)
            .await
            .map_err(|e| Failure::failed(e.to_string()))?;
        rows.push((index, name, s));
    }
    output::print_stats(ctx.json, &netns, &rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC: R3 (the `spec_from_cli` fuzz target asserts one-line errors for every argument
    // vector; written with it: `--link $'a\nb'` split the error in two lines, the second
    // looking like output of its own)
    #[test]
    fn an_invalid_spec_is_one_line_even_when_a_name_holds_a_newline() {
        let args = AttachArgs {
            netns: "ctr1".into(),
            link: Some("a\nb".into()),
            name: Some("eth\r0".into()),
            ..AttachArgs::default()
        };
        let failure = build_spec(&args).unwrap_err();
        assert_eq!(failure.code, EXIT_INVALID);
        assert!(
            !failure.message.contains(['\n', '\r']),
            "{:?}",
            failure.message
        );
        assert!(
            failure
                .message
                .starts_with(r#"attach of "a\nb" as "eth\r0" in namespace ctr1: "#),
            "{}",
            failure.message
        );
    }
}
