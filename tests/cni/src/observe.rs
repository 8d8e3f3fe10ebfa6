//! Behaviours the reference bridge plugin fails by design (SPEC marks them **[better]**), each
//! as a function that returns what it observed. [`judge`] turns an observation into an
//! assertion for nsplumb-cni and into a printed measurement for the bridge plugin, so today's
//! green run never asserts the wrong behaviour, and the same test holds nsplumb-cni to the SPEC.

use std::fmt::Debug;
use std::path::Path;

use serde_json::Value;

use crate::conflist::{AddressRange, BridgeNetwork};
use crate::error::{HarnessError, Result};
use crate::host;
use crate::netns::NamedNetns;
use crate::plugin::{with_prev_result, Plugin, PluginUnderTest, Verb};

/// Hold the plugin under test to `expectation` (`holds`) unless it is the reference bridge
/// plugin, whose observation is printed as a `MEASUREMENT` line instead.
pub fn judge<T: Debug>(
    plugin: &PluginUnderTest,
    spec_id: &str,
    expectation: &str,
    observation: &T,
    holds: impl FnOnce(&T) -> bool,
) {
    if plugin.is_reference() {
        println!(
            "MEASUREMENT {spec_id} ({}): {observation:?} -- the SPEC expects {expectation}; \
             the reference bridge plugin is not held to it",
            plugin.type_name
        );
        return;
    }
    println!(
        "OBSERVATION {spec_id} ({}): {observation:?}",
        plugin.type_name
    );
    assert!(
        holds(observation),
        "{spec_id}: {} does not meet: {expectation}; observed {observation:?}",
        plugin.type_name
    );
}

/// What a failed ADD left behind before the runtime's DEL (SPEC C4).
#[derive(Debug, Clone)]
pub struct FailedAdd {
    /// The error the plugin printed (code, message).
    pub error: Option<Value>,
    pub exit_code: i32,
    /// Host veths that were not there before the ADD.
    pub new_host_veths: Vec<String>,
    /// Links other than `lo` in the container's namespace.
    pub container_links: Vec<String>,
    /// Reservations that were not there before the ADD.
    pub new_reservations: Vec<String>,
}

impl FailedAdd {
    pub fn left_nothing(&self) -> bool {
        self.new_host_veths.is_empty()
            && self.container_links.is_empty()
            && self.new_reservations.is_empty()
    }
}

/// Make IPAM fail after the plugin may already have built the veth: a range of one address,
/// held by a first container; a second ADD must fail (exhausted range, as in
/// containernetworking/plugins #29). Observe what the failed ADD left, then DEL both (a runtime
/// must DEL after a failed ADD) and return the observation. The network must be fresh.
pub fn failed_add_leftovers(plugin: &Plugin, network: &mut BridgeNetwork) -> Result<FailedAdd> {
    let range = AddressRange::new("192.0.2.0/24")?.narrowed(
        "192.0.2.10".parse().expect("ip"),
        "192.0.2.10".parse().expect("ip"),
    );
    network.ranges = vec![range];
    let config = network.request_config();
    let holder = NamedNetns::add("c4-holder")?;
    let first = plugin
        .on(Verb::Add, "c4-holder", holder.path())
        .config(&config)
        .run()?;
    let first_result = first.result("ADD of the container holding the only address")?;

    let victim = NamedNetns::add("c4-victim")?;
    let veths_before = host::host_veths()?;
    let reserved_before = host::reservations(&network.reservation_dir());
    let failed = plugin
        .on(Verb::Add, "c4-victim", victim.path())
        .config(&config)
        .run()?;
    let observation = FailedAdd {
        error: failed.json.clone(),
        exit_code: failed.code,
        new_host_veths: host::host_veths()?
            .into_iter()
            .filter(|v| !veths_before.contains(v))
            .collect(),
        container_links: host::links(Some(&victim.path()))?
            .into_iter()
            .map(|l| l.name)
            .filter(|n| n != "lo")
            .collect(),
        new_reservations: host::reservations(&network.reservation_dir())
            .into_iter()
            .filter(|r| !reserved_before.contains(r))
            .map(|(ip, _)| ip)
            .collect(),
    };
    // The runtime's DEL after the failed ADD, then the holder's.
    plugin
        .on(Verb::Del, "c4-victim", victim.path())
        .config(&config)
        .run()?
        .result("DEL after the failed ADD")?;
    plugin
        .on(Verb::Del, "c4-holder", holder.path())
        .config(&with_prev_result(&config, &first_result))
        .run()?
        .result("DEL of the holder")?;
    if failed.success() {
        return Err(HarnessError::Invalid {
            what: "ADD into an exhausted range (the experiment's precondition)".into(),
            reason: format!("succeeded: {}", failed.stdout),
        });
    }
    Ok(observation)
}

/// What DEL with an empty `CNI_NETNS` did (SPEC C6: the recorded host end must go too).
#[derive(Debug, Clone)]
pub struct EmptyNetnsDel {
    pub exit_code: i32,
    /// The ADD's host end still in the host namespace after DEL.
    pub host_end_left: Option<String>,
    /// The address still reserved after DEL.
    pub reservation_left: bool,
}

/// ADD into a namespace, then DEL with `CNI_NETNS=""` while the namespace still exists (what
/// `ctr run --cni` always sends, and what a runtime sends when it lost the path).
pub fn empty_netns_del(
    plugin: &Plugin,
    network: &BridgeNetwork,
    reservation_dir: &Path,
) -> Result<EmptyNetnsDel> {
    let config = network.request_config();
    let ns = NamedNetns::add("c6-empty")?;
    let veths_before = host::host_veths()?;
    let added = plugin
        .on(Verb::Add, "c6-empty", ns.path())
        .config(&config)
        .run()?;
    let result = added.result("ADD before the DEL with an empty CNI_NETNS")?;
    let host_end = host::host_veths()?
        .into_iter()
        .find(|v| !veths_before.contains(v));
    let del = plugin
        .on(Verb::Del, "c6-empty", "")
        .config(&with_prev_result(&config, &result))
        .run()?;
    let veths_after = host::host_veths()?;
    Ok(EmptyNetnsDel {
        exit_code: del.code,
        host_end_left: host_end.filter(|h| veths_after.contains(h)),
        reservation_left: !host::reservations(reservation_dir).is_empty(),
    })
}

/// `supportedVersions` of a VERSION answer.
pub fn supported_versions(answer: &Value) -> Vec<String> {
    answer["supportedVersions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
