//! One run of the plugin, as a runtime drives it (SPEC C1, C10): the verb from `CNI_COMMAND`,
//! the configuration from stdin, the reply (result, VERSION's answer or nothing) or the error
//! object on stdout, a non-zero exit on error, logs on stderr only.

use crate::bounded::{read_to_end_bounded, BoundedReadError};
use crate::dataplane::Dataplane;
use crate::env::{read_verb, EnvSource};
use crate::error::{CniError, ErrorCode};
use crate::request::Request;
use crate::verb::Verb;
use crate::verbs::{execute, Tools};
use crate::version::{reply_version, supported_list, version_reply, HIGHEST_VERSION};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The largest configuration read from stdin.
pub const MAX_STDIN: usize = 4 << 20;
/// How long the runtime may take to write and close stdin.
pub const STDIN_TIMEOUT: Duration = Duration::from_secs(10);
/// VERSION does not need stdin (libcni's skel does not read it); it is read, briefly, only to
/// answer in its version.
pub const VERSION_STDIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Exit status of a failed call.
pub const EXIT_FAILURE: u8 = 1;

/// Reads stdin up to [`MAX_STDIN`] within `timeout`; a terminal gives no input.
pub fn read_stdin(timeout: Duration) -> Result<Vec<u8>, CniError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(Vec::new());
    }
    let mut stdin = stdin.lock();
    read_to_end_bounded(&mut stdin, MAX_STDIN, Instant::now() + timeout).map_err(|e| match e {
        BoundedReadError::TooLarge { limit } => CniError::new(
            ErrorCode::DECODING_FAILURE,
            format!("the network configuration on stdin is larger than {limit} bytes"),
        ),
        other => CniError::new(
            ErrorCode::IO_FAILURE,
            format!("reading the network configuration from stdin: {other}"),
        ),
    })
}

/// Runs one call and returns its exit status. `read_stdin` is given the time stdin may take.
pub fn run(
    dataplane: &dyn Dataplane,
    tools: &Tools,
    env: &dyn EnvSource,
    read_stdin: impl FnOnce(Duration) -> Result<Vec<u8>, CniError>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let verb = read_verb(env);
    let timeout = match verb {
        Ok(Verb::Version) => VERSION_STDIN_TIMEOUT,
        _ => STDIN_TIMEOUT,
    };
    let stdin = read_stdin(timeout);
    let version = stdin
        .as_deref()
        .map(reply_version)
        .unwrap_or(HIGHEST_VERSION);

    let var = |name: &str| env.var(name).map(|v| v.to_string_lossy().into_owned());
    let span = tracing::info_span!(
        "cni",
        verb = var("CNI_COMMAND"),
        container = var("CNI_CONTAINERID"),
        iface = var("CNI_IFNAME"),
        netns = var("CNI_NETNS"),
        network = tracing::field::Empty,
    );
    let _entered = span.enter();
    let outcome = verb.and_then(|verb| {
        if verb == Verb::Version {
            return Ok(Some(version_reply(version)));
        }
        let request = Request::parse(verb, env, stdin?)?;
        span.record("network", request.config.name.as_str());
        execute(dataplane, tools, &request)
    });

    match outcome {
        Ok(reply) => {
            if let Some(reply) = reply {
                if let Err(e) = write_json(stdout, &reply) {
                    let _ = writeln!(stderr, "nsplumb-cni: writing the result to stdout: {e}");
                    return EXIT_FAILURE;
                }
            }
            0
        }
        Err(error) => {
            if env.var("CNI_COMMAND").is_none_or(|c| c.is_empty()) {
                let _ = write!(stderr, "{}", about());
            }
            tracing::debug!(code = %error.code, "{error}");
            if let Err(e) = write_json(stdout, &error.to_json(version)) {
                let _ = writeln!(
                    stderr,
                    "nsplumb-cni: writing the error to stdout: {e} ({error})"
                );
            }
            EXIT_FAILURE
        }
    }
}

fn write_json(out: &mut dyn Write, value: &serde_json::Value) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// What a person running the binary by hand reads on stderr.
pub fn about() -> String {
    format!(
        "nsplumb-cni {}: nsplumb as a CNI plugin, in place of the bridge plugin\n\
         CNI protocol versions supported: {}\n",
        env!("CARGO_PKG_VERSION"),
        supported_list()
    )
}

#[cfg(test)]
mod tests;
