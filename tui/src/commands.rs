//! The subcommands, generic over the backend: input checks and output here; the flows with
//! their records and crash safety are `nsplumb-host`'s, shared with the TUI.

use crate::cli::{AttachArgs, Command, DetachArgs, ListArgs, NetnsAction, StatsArgs};
use crate::output;
use nsplumb_core::BackendExt;
use nsplumb_core::{
    validate, Destination, NetnsRef, Plumber, Source, Spec, DEFAULT_ANNOUNCE_INTERVAL,
};
use nsplumb_host::{AnnouncedBy, AttachRequest, HostBackend, HostError, Store};
use std::net::IpAddr;
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
            message: one_line(message.into()),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_INVALID,
            message: one_line(message.into()),
        }
    }
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Failure {
        match e.is_invalid_input() {
            true => Failure::invalid(e.to_string()),
            false => Failure::failed(e.to_string()),
        }
    }
}

/// Everything a command needs.
pub struct Ctx<B: HostBackend> {
    pub plumber: Plumber<B>,
    pub store: Store,
    pub json: bool,
    /// `NAME` → the namespace under the backend's directory; a path stays a path.
    pub resolve: Box<dyn Fn(&str) -> NetnsRef + Send + Sync>,
}

/// The spec and gateways an `attach` asks for; bad gateways are invalid input (the spec is
/// validated by the attach flow, once).
pub fn build_spec(args: &AttachArgs) -> Result<(Spec, Vec<IpAddr>), Failure> {
    let source = match (&args.link, &args.veth_on_bridge) {
        (_, Some(bridge)) => Source::VethOnBridge {
            bridge: bridge.clone(),
            host_name: nsplumb_host::veth_host_name(),
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
    spec.mtu = args.mtu;
    spec.hairpin = args.hairpin;
    spec.isolated = args.isolated;
    spec.vlan = args.vlan;
    spec.vlan_trunk = args.vlan_trunk.clone();
    spec.keep_default_vlan = args.keep_default_vlan;
    spec.dad = args.dad;
    spec.dad_timeout_ms = args.dad_timeout_ms;
    let mut gateways = Vec::new();
    let mut bad = Vec::new();
    for g in &args.gateway {
        match g.parse::<IpAddr>() {
            Ok(ip) => gateways.push(ip),
            Err(_) => bad.push(format!("gateway {g:?}: is not an IP address")),
        }
    }
    if !bad.is_empty() {
        // Every problem at once: the spec's own too (the attach flow, which validates the
        // spec, is not reached).
        let mut problems: Vec<String> = match validate(&spec) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
        };
        problems.extend(bad);
        let dst = match &spec.destination {
            Destination::Name(n) => format!(" as {n}"),
            Destination::Prefix(p) => format!(" as {p}N"),
        };
        return Err(Failure::invalid(format!(
            "attach of {}{dst} in namespace {}: invalid interface spec: {}",
            spec.source.name(),
            args.netns,
            problems.join("; ")
        )));
    }
    Ok((spec, gateways))
}

/// A command's error is one line (SPEC R3): a control character from the input (a newline in
/// a bad name) is written escaped, as Rust escapes it, so it cannot split the line or pass
/// for output of its own.
fn one_line(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    message
        .chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().collect(),
            false => c.to_string(),
        })
        .collect()
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
pub async fn run<B: HostBackend>(ctx: &Ctx<B>, command: &Command) -> Result<(), Failure> {
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

async fn netns<B: HostBackend>(ctx: &Ctx<B>, action: &NetnsAction) -> Result<(), Failure> {
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
            let ns = nsplumb_host::create_netns(&ctx.store, &ctx.plumber, name).await?;
            output::print_netns_added(ctx.json, &ns);
            Ok(())
        }
        NetnsAction::Del { name } => {
            check_ns_name("namespace", name)?;
            let ns = (ctx.resolve)(name);
            if ns.is_host() {
                return Err(Failure::invalid("the host namespace cannot be deleted"));
            }
            nsplumb_host::delete_netns(&ctx.store, &ctx.plumber, &ns).await?;
            output::print_ok(ctx.json, &format!("deleted namespace {ns}"));
            Ok(())
        }
        NetnsAction::List => {
            let list = ctx
                .plumber
                .backend()
                .list_netns()
                .await
                .map_err(|e| Failure::failed(format!("failed to list namespaces: {e}")))?;
            output::print_netns_list(ctx.json, &list);
            Ok(())
        }
    }
}

async fn attach<B: HostBackend>(ctx: &Ctx<B>, args: &AttachArgs) -> Result<(), Failure> {
    check_ns_name("namespace", &args.netns)?;
    let (spec, gateways) = build_spec(args)?;
    let request = AttachRequest {
        gateways,
        announced_by: AnnouncedBy::ThisProcess,
        ..AttachRequest::new((ctx.resolve)(&args.netns), spec)
    };
    let outcome = nsplumb_host::attach(&ctx.store, &ctx.plumber, request).await?;
    output::print_attached(ctx.json, &outcome.attached, &outcome.gateways);
    if let Some(announcing) = outcome.announcing {
        // Stay until the remaining announcements are sent (S5).
        announcing.finish(&ctx.store).await;
    }
    Ok(())
}

/// The namespace of a `--netns NS --name NAME` command, once both are valid (SPEC V rules):
/// invalid input is refused before anything is touched.
fn checked_netns<B: HostBackend>(ctx: &Ctx<B>, args: &DetachArgs) -> Result<NetnsRef, Failure> {
    check_ns_name("namespace", &args.netns)?;
    if let Err(r) = nsplumb_core::check_ifname(&args.name) {
        return Err(Failure::invalid(format!(
            "invalid interface spec: name {:?}: {r}",
            args.name
        )));
    }
    Ok((ctx.resolve)(&args.netns))
}

async fn detach<B: HostBackend>(ctx: &Ctx<B>, args: &DetachArgs) -> Result<(), Failure> {
    let netns = checked_netns(ctx, args)?;
    nsplumb_host::detach(&ctx.store, &ctx.plumber, &netns, &args.name).await?;
    output::print_ok(
        ctx.json,
        &format!("detached {} from namespace {netns}", args.name),
    );
    Ok(())
}

/// SPEC D3: drop the record of an interface whose link vanished, freeing its name.
async fn forget<B: HostBackend>(ctx: &Ctx<B>, args: &DetachArgs) -> Result<(), Failure> {
    let netns = checked_netns(ctx, args)?;
    nsplumb_host::forget(&ctx.store, &ctx.plumber, &netns, &args.name).await?;
    output::print_ok(
        ctx.json,
        &format!(
            "forgot vanished interface {} in namespace {netns}",
            args.name
        ),
    );
    Ok(())
}

async fn list<B: HostBackend>(ctx: &Ctx<B>, args: &ListArgs) -> Result<(), Failure> {
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
        if let Err(e) = nsplumb_host::refresh(&ctx.store, &ctx.plumber, ns).await {
            if args.netns.is_some() {
                return Err(e.into());
            }
            eprintln!("nsplumb: warning: {e}");
        }
        match ctx.plumber.list(ns).await {
            Ok(links) => all.push((ns.clone(), links)),
            Err(e) if args.netns.is_some() => return Err(Failure::failed(e.to_string())),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    output::print_list(ctx.json, &all);
    Ok(())
}

async fn stats<B: HostBackend>(ctx: &Ctx<B>, args: &StatsArgs) -> Result<(), Failure> {
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
    use clap::Parser;

    // SPEC: L1
    // SPEC: L2
    // SPEC: L3
    // SPEC: L4
    // SPEC: L5
    #[test]
    fn link_option_flags_fill_the_spec() {
        let cli = crate::cli::Cli::try_parse_from([
            "nsplumb",
            "attach",
            "--netns",
            "ctr1",
            "--veth-on-bridge",
            "br0",
            "--prefix",
            "eth",
            "--mtu",
            "1400",
            "--hairpin",
            "--isolated",
            "--vlan",
            "10",
            "--vlan-trunk",
            "20,30-40",
            "--vlan-trunk",
            "50",
            "--keep-default-vlan",
            "--dad",
            "--dad-timeout-ms",
            "500",
        ])
        .unwrap();
        let Some(Command::Attach(args)) = cli.command else {
            panic!("attach");
        };
        let (spec, _) = build_spec(&args).unwrap();
        assert_eq!(spec.mtu, Some(1400));
        assert!(spec.hairpin && spec.isolated && spec.keep_default_vlan && spec.dad);
        assert_eq!(spec.vlan, Some(10));
        assert_eq!(spec.vlan_trunk, ["20", "30-40", "50"]);
        assert_eq!(spec.dad_timeout_ms, Some(500));
        let valid = validate(&spec).unwrap();
        assert_eq!(
            valid.port.vlans.unwrap().trunk,
            [(20, 20), (30, 40), (50, 50)]
        );

        // Without them: nothing set.
        let cli = crate::cli::Cli::try_parse_from([
            "nsplumb", "attach", "--netns", "ctr1", "--link", "d0", "--name", "eth0",
        ])
        .unwrap();
        let Some(Command::Attach(args)) = cli.command else {
            panic!("attach");
        };
        let (spec, _) = build_spec(&args).unwrap();
        let valid = validate(&spec).unwrap();
        assert!(valid.port.is_empty() && valid.mtu.is_none() && valid.dad.is_none());
    }

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
        // The path of `attach`: the spec as built, then the attach flow's check (A1), which
        // refuses it before anything is locked or read.
        let (spec, _) = build_spec(&args).unwrap();
        let netns = NetnsRef::from_name_or_path(&args.netns);
        let refused = nsplumb_host::check_attach(&AttachRequest::new(netns, spec)).unwrap_err();
        let failure = Failure::from(refused);
        assert_eq!(failure.code, EXIT_INVALID);
        assert!(
            !failure.message.contains(['\n', '\r']),
            "{:?}",
            failure.message
        );
        assert!(
            failure
                .message
                .starts_with(r#"attach of a\nb as eth\r0 in namespace /run/netns/ctr1: "#),
            "{}",
            failure.message
        );
    }

    // SPEC: R3
    #[test]
    fn a_bad_gateway_and_a_bad_name_are_refused_together_on_one_line() {
        let args = AttachArgs {
            netns: "ctr\n1".into(),
            link: Some("veth0".into()),
            name: Some("a/b".into()),
            gateway: vec!["192.0.2.x".into()],
            ..AttachArgs::default()
        };
        let failure = build_spec(&args).unwrap_err();
        assert_eq!(failure.code, EXIT_INVALID);
        assert!(!failure.message.contains('\n'), "{:?}", failure.message);
        assert!(
            failure.message.contains(r#"name "a/b""#),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains(r#"gateway "192.0.2.x""#),
            "{}",
            failure.message
        );
    }
}
