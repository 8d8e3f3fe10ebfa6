//! The whole `nsplumb-cni` program: one CNI call per process (SPEC C1–C11), or, started by an
//! ADD, the detached process that sends an interface's remaining announcements (SPEC C5). A
//! library function so that the end-to-end test crate can build the very same program as a
//! binary of its own (cargo builds no binary of a dependency).

use std::process::ExitCode;

use crate::kernel::announcer::{self, ANNOUNCER_ARG};
use crate::plugin::{read_stdin, run};
use crate::{KernelDataplane, ProcessEnv, Tools};

/// What `main` of the plugin binary does.
pub fn main() -> ExitCode {
    init_logging();
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == ANNOUNCER_ARG) {
        let job = args.next().unwrap_or_default();
        return ExitCode::from(announcer::run(&job.to_string_lossy()));
    }
    let status = run(
        &KernelDataplane::from_env(),
        &Tools::system(),
        &ProcessEnv,
        read_stdin,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(status)
}

/// Logs go to stderr only (stdout is the runtime's): warnings and errors, or what
/// `NSPLUMB_CNI_LOG` asks for (an `EnvFilter` directive, e.g. `debug`).
fn init_logging() {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    match std::env::var("NSPLUMB_CNI_LOG") {
        Ok(directive) => {
            builder
                .with_env_filter(tracing_subscriber::EnvFilter::new(directive))
                .init();
        }
        Err(_) => builder.with_max_level(tracing::Level::WARN).init(),
    }
}
