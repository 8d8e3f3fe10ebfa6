use clap::Parser;
use nsplumb_core::{NetnsRef, Plumber};
use nsplumb_host::{paths, Store};
use nsplumb_linux::LinuxBackend;
use nsplumb_tui::cli::{BackendKind, Cli, Command};
use nsplumb_tui::commands::{self, Ctx, Failure};
use nsplumb_tui::simworld::SimWorld;
use nsplumb_tui::{app, output, tokio_spawner};
use std::sync::Arc;

fn main() {
    let json_flag = std::env::args().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            // One line: clap's message and where to look for the usage.
            let msg = e.to_string();
            let first = msg
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .trim_start_matches("error: ")
                .to_string();
            let line = format!("{first} (see nsplumb --help)");
            if json_flag {
                println!("{}", serde_json::json!({ "error": line }));
            }
            eprintln!("nsplumb: error: {line}");
            std::process::exit(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Tui);
    if let Command::BenchTui { interfaces, frames } = command {
        app::bench::run_and_print(interfaces, frames);
        return;
    }
    let is_tui = matches!(command, Command::Tui);
    // A one-shot command is one short operation: the thread that parsed it runs it (no
    // worker threads to start, no wake-ups across threads). The TUI keeps two workers.
    let runtime = if is_tui {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let code = if is_tui {
        runtime.block_on(async {
            match app::run::run_tui(cli.backend).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("nsplumb: error: {e}");
                    1
                }
            }
        })
    } else {
        init_stderr_logging();
        let json = cli.json;
        let result = runtime.block_on(run_command(cli.backend, json, &command));
        match result {
            Ok(()) => 0,
            Err(f) => {
                output::print_error(json, &f.message);
                f.code
            }
        }
    };
    // Background tasks (the sim pacer) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}

fn init_stderr_logging() {
    // Logging is off unless asked for: then no subscriber is built at all.
    if std::env::var_os("RUST_LOG").is_none_or(|v| v.is_empty()) {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run_command(backend: BackendKind, json: bool, command: &Command) -> Result<(), Failure> {
    match backend {
        BackendKind::Sim => {
            let dir = paths::sim_state_dir();
            // The journal is read whole before anything acts (a corrupt one is an error).
            let (store, entries) = tokio::task::spawn_blocking(move || Store::open_sim(dir))
                .await
                .map_err(|e| Failure::failed(e.to_string()))??;
            let world = SimWorld::new(1).await.map_err(Failure::failed)?;
            world.spawn_pacer();
            // The replay rebuilds the simulated kernel on a plumber of its own; this process's
            // plumber learns nsplumb's records from the state files, as on Linux.
            let replayer = Plumber::new(world.backend.clone(), tokio_spawner());
            world.replay(&replayer, &entries).await;
            let plumber = Plumber::new(world.backend.clone(), tokio_spawner());
            let ctx = Ctx {
                plumber,
                store,
                json,
                resolve: Box::new(NetnsRef::from_name_or_path),
            };
            let r = commands::run(&ctx, command).await;
            ctx.store.release_journal();
            r
        }
        BackendKind::Linux => {
            let backend = LinuxBackend::new()
                .map_err(|e| Failure::failed(format!("cannot open the Linux backend: {e}")))?
                .pin_namespace_paths();
            let dir = backend.netns_dir().to_path_buf();
            let plumber = Plumber::new(Arc::new(backend), tokio_spawner());
            let ctx = Ctx {
                plumber,
                store: Store::Linux {
                    dir: paths::state_dir("/run/nsplumb"),
                },
                json,
                resolve: Box::new(move |s| nsplumb_tui::resolve_in(&dir, s)),
            };
            commands::run(&ctx, command).await
        }
    }
}
