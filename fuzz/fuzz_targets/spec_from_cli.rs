//! SPEC R3, V1–V10: an argument vector (NUL-separated, bytes as the OS gives them) through the
//! `nsplumb` CLI's own parsing and spec building, then `validate`.
//!
//! Properties: clap answers every vector with a command or an error it can render; an accepted
//! `attach` carries every argument into the spec unchanged (nothing dropped or half-read) and is
//! valid by the SPEC rules; a refused one exits 2 with one line naming every bad field and
//! gateway; a built spec reads back from its JSON record as it was.
#![no_main]

use clap::{CommandFactory, FromArgMatches};
use libfuzzer_sys::fuzz_target;
use nsplumb_core::{Destination, Source, Spec, DEFAULT_ANNOUNCE_COUNT, DEFAULT_ANNOUNCE_INTERVAL};
use nsplumb_fuzz::spec_check;
use nsplumb_tui::cli::{AttachArgs, Cli, Command};
use std::ffi::OsString;
use std::net::IpAddr;
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;
use std::time::Duration;

// The code under test: the CLI's spec building, then the attach flow's check (SPEC A1), which
// is what `nsplumb attach` runs before it locks or reads anything.
use nsplumb_core::NetnsRef;
use nsplumb_host::AttachRequest;
use nsplumb_tui::commands::{build_spec, Failure, EXIT_INVALID};

fuzz_target!(|data: &[u8]| {
    let argv = std::iter::once(OsString::from("nsplumb")).chain(
        data.split(|b| *b == 0)
            .map(|arg| OsString::from_vec(arg.to_vec())),
    );
    // `Cli::try_parse_from` without building (and debug-asserting) the command tree each run.
    let parsed = command()
        .clone()
        .try_get_matches_from_mut(argv)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            assert!(!e.to_string().trim().is_empty(), "clap error without text");
            return;
        }
    };
    if let Some(Command::Attach(args)) = &cli.command {
        check_attach(args);
    }
});

/// The `nsplumb` command tree, built once.
fn command() -> &'static clap::Command {
    static COMMAND: OnceLock<clap::Command> = OnceLock::new();
    COMMAND.get_or_init(|| {
        let mut command = Cli::command();
        command.build();
        command
    })
}

fn check_attach(args: &AttachArgs) {
    let mut want = spec_as_documented(args);
    let verdict = spec_check::validate_and_check(&want);
    let bad_gateways: Vec<&String> = args
        .gateway
        .iter()
        .filter(|g| g.parse::<IpAddr>().is_err())
        .collect();
    let checked = build_spec(args).and_then(|(spec, gateways)| {
        let request = AttachRequest::new(NetnsRef::from_name_or_path(&args.netns), spec);
        nsplumb_host::check_attach(&request).map_err(Failure::from)?;
        Ok((request.spec, gateways))
    });
    match checked {
        Ok((spec, gateways)) => {
            assert!(verdict.is_ok(), "build_spec accepted an invalid spec");
            assert!(
                bad_gateways.is_empty(),
                "bad gateway {bad_gateways:?} accepted"
            );
            // The host end's name is generated; everything else is as the arguments say.
            if let (
                Source::VethOnBridge { host_name, .. },
                Source::VethOnBridge {
                    host_name: mine, ..
                },
            ) = (&spec.source, &mut want.source)
            {
                mine.clone_from(host_name);
            }
            assert_eq!(spec, want, "the spec is not what the arguments say");
            let parsed: Vec<IpAddr> = args.gateway.iter().map(|g| g.parse().unwrap()).collect();
            assert_eq!(gateways, parsed);
            let text = serde_json::to_string(&spec).expect("a spec serializes");
            let back: Spec = serde_json::from_str(&text).expect("a spec's record reads back");
            assert_eq!(back, spec);
        }
        Err(failure) => {
            assert_eq!(failure.code, EXIT_INVALID, "{failure:?}");
            let msg = &failure.message;
            assert!(!msg.contains('\n'), "a CLI error is one line: {msg:?}");
            match &verdict {
                Ok(_) => assert!(!bad_gateways.is_empty(), "valid spec refused: {msg}"),
                Err(e) => {
                    for p in &e.problems {
                        assert!(msg.contains(&p.to_string()), "{msg:?} leaves out {p}");
                    }
                }
            }
            for g in bad_gateways {
                assert!(
                    msg.contains(&format!("gateway {g:?}")),
                    "{msg:?} leaves out {g}"
                );
            }
        }
    }
}

/// The spec the CLI documents for these arguments (`nsplumb attach --help`).
fn spec_as_documented(args: &AttachArgs) -> Spec {
    let link = || {
        args.link
            .clone()
            .expect("clap requires --link or --veth-on-bridge")
    };
    let source = match &args.veth_on_bridge {
        Some(bridge) => Source::VethOnBridge {
            bridge: bridge.clone(),
            host_name: "vnsp00000000".into(),
        },
        None if args.bridge => Source::NewBridge(link()),
        None if args.created_in_netns => Source::CreatedInNamespace(link()),
        None => Source::HostLink(link()),
    };
    let destination = match (&args.name, &args.prefix) {
        (Some(n), _) => Destination::Name(n.clone()),
        (None, Some(p)) => Destination::Prefix(p.clone()),
        (None, None) => panic!("clap requires --name or --prefix"),
    };
    Spec {
        mac: args.mac.clone(),
        ipv4: args.ipv4.clone(),
        ipv6: args.ipv6.clone(),
        link_local: args.link_local.clone(),
        routes: args.route.clone(),
        sysctls: args.sysctl.clone(),
        master: args.master.clone(),
        announce_count: args.announce_count.unwrap_or(DEFAULT_ANNOUNCE_COUNT),
        announce_interval: args
            .announce_interval_ms
            .map_or(DEFAULT_ANNOUNCE_INTERVAL, Duration::from_millis),
        mtu: args.mtu,
        hairpin: args.hairpin,
        isolated: args.isolated,
        vlan: args.vlan,
        vlan_trunk: args.vlan_trunk.clone(),
        keep_default_vlan: args.keep_default_vlan,
        dad: args.dad,
        dad_timeout_ms: args.dad_timeout_ms,
        ..Spec::new(source, destination)
    }
}
