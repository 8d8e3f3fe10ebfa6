//! SPEC C3–C9: what each verb does, step by step, around the [`Dataplane`] seam: IPAM,
//! masquerade and the result are here, the links are the dataplane's.

use crate::addressing::Addressing;
use crate::child::Limits;
use crate::dataplane::{
    AttachRequest, CheckRequest, Dataplane, DetachRequest, GcRequest, StatusRequest,
};
use crate::error::{CniError, ErrorCode};
use crate::ipam::{IpamPlugin, IPAM_LIMITS};
use crate::masquerade::Masquerade;
use crate::request::Request;
use crate::result;
use crate::verb::Verb;
use ipnet::IpNet;

/// The programs the verbs run besides the dataplane.
#[derive(Debug, Clone)]
pub struct Tools {
    pub ipam_limits: Limits,
    pub masquerade: Masquerade,
}

impl Tools {
    /// What the plugin binary uses: `nft` from the system, IPAM bounded by [`IPAM_LIMITS`].
    pub fn system() -> Tools {
        Tools {
            ipam_limits: IPAM_LIMITS,
            masquerade: Masquerade::system(),
        }
    }
}

/// Runs the request's verb; ADD's result (in the call's version), or nothing for the others.
pub fn execute(
    dataplane: &dyn Dataplane,
    tools: &Tools,
    request: &Request,
) -> Result<Option<serde_json::Value>, CniError> {
    match request.verb {
        Verb::Add => add(dataplane, tools, request).map(Some),
        Verb::Del => del(dataplane, tools, request).map(|()| None),
        Verb::Check => check(dataplane, tools, request).map(|()| None),
        Verb::Status => status(dataplane, tools, request).map(|()| None),
        Verb::Gc => gc(dataplane, tools, request).map(|()| None),
        Verb::Version => Ok(Some(crate::version::version_reply(request.version()))),
    }
}

/// The IPAM plugin of the configuration, if any; not finding it is code 7 (the configuration
/// names a plugin that is not installed).
fn ipam_plugin(tools: &Tools, request: &Request) -> Result<Option<IpamPlugin>, CniError> {
    let Some(ipam) = &request.config.ipam else {
        return Ok(None);
    };
    IpamPlugin::find(&ipam.plugin, &request.env.cni_path, tools.ipam_limits)
        .map(Some)
        .map_err(|e| CniError::new(ErrorCode::INVALID_CONFIG, e.to_string()))
}

/// SPEC C3, C4: IPAM ADD, the attach, masquerade, the result; a failing step undoes the ones
/// before it, IPAM's reservation included.
fn add(
    dataplane: &dyn Dataplane,
    tools: &Tools,
    request: &Request,
) -> Result<serde_json::Value, CniError> {
    let attachment = request.attachment().expect("ADD has an attachment");
    let netns = request.env.netns.as_deref().expect("ADD has a namespace");
    let config = &request.config;
    config.refuse_unapplied_link_options()?;
    let ipam = ipam_plugin(tools, request)?;
    let mut undo = Undo::new(request);

    let addressing = match &ipam {
        None => Addressing::layer2(),
        Some(plugin) => {
            let answer = plugin.add(request)?;
            undo.ipam = Some(plugin);
            Addressing::from_ipam(answer, config, &plugin.name).map_err(|e| undo.run(e))?
        }
    };
    let outcome = dataplane
        .attach(&AttachRequest {
            network: &config.name,
            attachment,
            netns,
            config,
            mac: request.mac(),
            addressing: &addressing,
        })
        .map_err(|e| undo.run(e))?;
    undo.dataplane = Some(dataplane);

    if config.ip_masq && !addressing.ips.is_empty() {
        let addresses: Vec<IpNet> = addressing.ips.iter().map(|ip| ip.address).collect();
        tools
            .masquerade
            .add(&config.name, attachment, &addresses)
            .map_err(|e| undo.run(e))?;
    }
    let result = result::add_result(
        config.prev_result.as_ref(),
        &outcome,
        &addressing,
        config,
        netns,
    );
    Ok(result::render(&result, request.version()))
}

/// What a failing ADD has done so far, undone in reverse order (SPEC C4).
struct Undo<'a> {
    request: &'a Request,
    ipam: Option<&'a IpamPlugin>,
    dataplane: Option<&'a dyn Dataplane>,
}

impl<'a> Undo<'a> {
    fn new(request: &'a Request) -> Undo<'a> {
        Undo {
            request,
            ipam: None,
            dataplane: None,
        }
    }

    /// Undoes every step done and returns `error`, with any step that could not be undone in
    /// its details.
    fn run(&self, error: CniError) -> CniError {
        let request = self.request;
        let attachment = request.attachment().expect("ADD has an attachment");
        let mut leftovers = Vec::new();
        if let Some(dataplane) = self.dataplane {
            let detach = DetachRequest {
                network: &request.config.name,
                attachment,
                netns: request.env.netns.as_deref(),
                config: &request.config,
            };
            if let Err(e) = dataplane.detach(&detach) {
                leftovers.push(format!("undoing the attach failed: {e}"));
            }
        }
        if let Some(plugin) = self.ipam {
            if let Err(e) = plugin.del(request) {
                leftovers.push(format!("releasing the address (IPAM DEL) failed: {e}"));
            }
        }
        for leftover in &leftovers {
            tracing::error!(
                container = %attachment.container_id,
                iface = %attachment.ifname,
                "{leftover}"
            );
        }
        error.with_notes(leftovers)
    }
}

/// SPEC C6: every step runs even when one fails (best effort); the first failure is reported,
/// the others in its details.
fn del(dataplane: &dyn Dataplane, tools: &Tools, request: &Request) -> Result<(), CniError> {
    let attachment = request.attachment().expect("DEL has an attachment");
    let config = &request.config;
    let mut failures = Failures::default();
    failures.note(dataplane.detach(&DetachRequest {
        network: &config.name,
        attachment,
        netns: request.env.netns.as_deref(),
        config,
    }));
    failures.note(ipam_plugin(tools, request).and_then(|ipam| match ipam {
        Some(plugin) => plugin.del(request),
        None => Ok(()),
    }));
    if config.ip_masq {
        failures.note(tools.masquerade.remove(&config.name, attachment).map(drop));
    }
    failures.into_result()
}

/// SPEC C7: IPAM CHECK, then the links against `prevResult`.
fn check(dataplane: &dyn Dataplane, tools: &Tools, request: &Request) -> Result<(), CniError> {
    let config = &request.config;
    let Some(prev_result) = &config.prev_result else {
        return Err(CniError::new(
            ErrorCode::INVALID_CONFIG,
            "invalid network configuration: key \"prevResult\": CHECK needs the ADD's result",
        ));
    };
    if let Some(plugin) = ipam_plugin(tools, request)? {
        plugin.check(request)?;
    }
    dataplane.check(&CheckRequest {
        network: &config.name,
        attachment: request.attachment().expect("CHECK has an attachment"),
        netns: request.env.netns.as_deref().expect("CHECK has a namespace"),
        config,
        mac: request.mac(),
        prev_result,
    })
}

/// SPEC C8: the IPAM plugin is there and available, and the dataplane could serve an ADD.
fn status(dataplane: &dyn Dataplane, tools: &Tools, request: &Request) -> Result<(), CniError> {
    let config = &request.config;
    if let Some(ipam) = &config.ipam {
        let plugin = IpamPlugin::find(&ipam.plugin, &request.env.cni_path, tools.ipam_limits)
            .map_err(|e| CniError::new(ErrorCode::NOT_AVAILABLE, e.to_string()))?;
        plugin.status(request)?;
    }
    dataplane.status(&StatusRequest {
        network: &config.name,
        config,
    })
}

/// SPEC C9: the stale attachments go (links, masquerade, their reservations), then IPAM GC.
fn gc(dataplane: &dyn Dataplane, tools: &Tools, request: &Request) -> Result<(), CniError> {
    let config = &request.config;
    let Some(valid) = &config.valid_attachments else {
        return Err(CniError::new(
            ErrorCode::INVALID_CONFIG,
            "invalid network configuration: key \"cni.dev/valid-attachments\": GC needs the \
             list of attachments to keep",
        ));
    };
    let ipam = ipam_plugin(tools, request)?;
    let mut failures = Failures::default();
    let removed = dataplane.gc(&GcRequest {
        network: &config.name,
        config,
        valid,
    });
    let removed = match failures.note(removed) {
        Some(outcome) => {
            for error in outcome.errors {
                failures.note::<()>(Err(error));
            }
            outcome.removed
        }
        None => Vec::new(),
    };
    if let Some(plugin) = &ipam {
        for stale in &removed {
            failures.note(plugin.del_attachment(request, stale));
        }
    }
    if config.ip_masq {
        failures.note(tools.masquerade.gc(&config.name, valid).map(drop));
    }
    if let Some(plugin) = &ipam {
        failures.note(plugin.gc(request));
    }
    failures.into_result()
}

/// The failures of a best-effort verb.
#[derive(Default)]
struct Failures(Vec<CniError>);

impl Failures {
    fn note<T>(&mut self, outcome: Result<T, CniError>) -> Option<T> {
        outcome.map_err(|e| self.0.push(e)).ok()
    }

    fn into_result(self) -> Result<(), CniError> {
        let mut failures = self.0.into_iter();
        let Some(first) = failures.next() else {
            return Ok(());
        };
        Err(first.with_notes(failures.map(|e| format!("also: {e}"))))
    }
}

#[cfg(test)]
mod tests;
