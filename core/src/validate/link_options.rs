//! SPEC L1–L5: the link options of a [`Spec`], checked with the other fields (all problems at
//! once, before any kernel call), and their typed forms.

use crate::spec::{
    Source, Spec, DEFAULT_DAD_TIMEOUT, MAX_DAD_TIMEOUT, MAX_MTU, MAX_VLAN, MIN_DAD_TIMEOUT,
    MIN_IPV6_MTU, MIN_MTU, MIN_VLAN,
};
use crate::types::{PortFlagsChange, VlanSpec};
use std::time::Duration;

/// The VLAN every new bridge port is born in (the kernel's `default_pvid`).
pub const DEFAULT_VLAN: u16 = 1;

/// The wording of an option that only a veth whose host end is a bridge port can take
/// (SPEC L2–L4): at validation for a new bridge, at attach for any other link.
pub fn needs_a_veth_on_a_bridge(option: &str) -> String {
    format!("{option} {NEEDS_A_VETH}")
}

pub(super) const NEEDS_A_VETH: &str = "needs a veth on a bridge";

/// SPEC L3: the VLANs to put on the host end's bridge port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VlanPlan {
    /// Untagged frames entering the port join this VLAN; its frames leave untagged.
    pub pvid: Option<u16>,
    /// Tagged VLANs, each `(first, last)` (a single ID has first == last), as given.
    pub trunk: Vec<(u16, u16)>,
    /// Keep the default VLAN 1 on the port.
    pub keep_default: bool,
}

impl VlanPlan {
    /// What `bridge vlan add` is asked for: the PVID (untagged) first, then the trunk.
    pub fn to_add(&self) -> Vec<VlanSpec> {
        let pvid = self.pvid.map(|vid| VlanSpec {
            first: vid,
            last: vid,
            pvid: true,
            untagged: true,
        });
        let trunk = self.trunk.iter().map(|&(first, last)| VlanSpec {
            first,
            last,
            pvid: false,
            untagged: false,
        });
        pvid.into_iter().chain(trunk).collect()
    }

    /// Whether VLAN 1 leaves the port: unless kept, or asked for as the PVID or in the trunk.
    pub fn removes_default(&self) -> bool {
        !self.keep_default
            && self.pvid != Some(DEFAULT_VLAN)
            && !self
                .trunk
                .iter()
                .any(|&(a, b)| (a..=b).contains(&DEFAULT_VLAN))
    }

    /// The default VLAN as `bridge vlan del` names it.
    pub fn default_vlan() -> VlanSpec {
        VlanSpec::tagged(DEFAULT_VLAN)
    }
}

/// SPEC L2–L4: what to set on the host end's bridge port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PortOptions {
    pub hairpin: bool,
    pub isolated: bool,
    pub vlans: Option<VlanPlan>,
}

impl PortOptions {
    pub fn is_empty(&self) -> bool {
        !self.hairpin && !self.isolated && self.vlans.is_none()
    }

    /// The flags to switch on, if any (options only turn flags on; off is the port's default).
    pub fn flags_change(&self) -> Option<PortFlagsChange> {
        (self.hairpin || self.isolated).then_some(PortFlagsChange {
            hairpin: self.hairpin.then_some(true),
            isolated: self.isolated.then_some(true),
        })
    }

    /// The options asked for, by the name errors give them.
    pub fn asked(&self) -> Vec<&'static str> {
        let mut asked = Vec::new();
        if self.hairpin {
            asked.push("hairpin");
        }
        if self.isolated {
            asked.push("isolated");
        }
        if self.vlans.is_some() {
            asked.push("vlan");
        }
        asked
    }
}

/// The typed link options of a valid spec.
pub(super) struct LinkOptions {
    pub mtu: Option<u32>,
    pub port: PortOptions,
    pub dad: Option<Duration>,
}

/// Check every link option of `spec`, reporting each problem through `bad` (field, value,
/// reason); the typed options when none was found.
pub(super) fn check(spec: &Spec, bad: &mut dyn FnMut(&'static str, &str, String)) -> LinkOptions {
    // L1
    if let Some(mtu) = spec.mtu {
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            bad(
                "mtu",
                &mtu.to_string(),
                format!("is not in the range {MIN_MTU} to {MAX_MTU}"),
            );
        } else if spec.ipv6.is_some() && mtu < MIN_IPV6_MTU {
            bad(
                "mtu",
                &mtu.to_string(),
                format!("is below {MIN_IPV6_MTU}, the least MTU of a link with an IPv6 address"),
            );
        }
    }

    // L3
    let in_range = |vid: u16| (MIN_VLAN..=MAX_VLAN).contains(&vid);
    if let Some(vid) = spec.vlan.filter(|v| !in_range(*v)) {
        bad(
            "vlan",
            &vid.to_string(),
            format!("is not a VLAN ID ({MIN_VLAN} to {MAX_VLAN})"),
        );
    }
    let mut trunk: Vec<(u16, u16)> = Vec::new();
    let mut trunk_ok = true;
    for entry in &spec.vlan_trunk {
        let range = match parse_vlan_range(entry) {
            Ok(r) => r,
            Err(reason) => {
                bad("vlan_trunk", entry, reason);
                trunk_ok = false;
                continue;
            }
        };
        if let Some(pvid) = spec.vlan.filter(|p| (range.0..=range.1).contains(p)) {
            bad(
                "vlan_trunk",
                entry,
                format!("contains the PVID {pvid} (vlan)"),
            );
            trunk_ok = false;
        } else if let Some(i) = trunk
            .iter()
            .position(|&(a, b)| a <= range.1 && range.0 <= b)
        {
            bad(
                "vlan_trunk",
                entry,
                format!("overlaps {:?}", format_range(trunk[i])),
            );
            trunk_ok = false;
        }
        trunk.push(range);
    }
    let any_vlan = spec.vlan.is_some() || !spec.vlan_trunk.is_empty();
    if spec.keep_default_vlan && !any_vlan {
        bad(
            "keep_default_vlan",
            "true",
            "needs vlan or vlan_trunk".into(),
        );
    }

    // L2–L4 on a link that cannot be a veth on a bridge.
    if matches!(spec.source, Source::NewBridge(_)) {
        if spec.hairpin {
            bad("hairpin", "true", needs_a_veth_on_a_bridge("hairpin"));
        }
        if spec.isolated {
            bad("isolated", "true", needs_a_veth_on_a_bridge("isolated"));
        }
        if let Some(vid) = spec.vlan {
            bad("vlan", &vid.to_string(), needs_a_veth_on_a_bridge("vlan"));
        }
        if !spec.vlan_trunk.is_empty() {
            bad(
                "vlan_trunk",
                &spec.vlan_trunk.join(","),
                needs_a_veth_on_a_bridge("vlan"),
            );
        }
    }

    // L5
    let mut dad = spec.dad.then_some(DEFAULT_DAD_TIMEOUT);
    if let Some(ms) = spec.dad_timeout_ms {
        let timeout = Duration::from_millis(ms);
        if !spec.dad {
            bad("dad_timeout_ms", &ms.to_string(), "needs dad".into());
        } else if !(MIN_DAD_TIMEOUT..=MAX_DAD_TIMEOUT).contains(&timeout) {
            bad(
                "dad_timeout_ms",
                &ms.to_string(),
                format!(
                    "is not in the range {} to {} ms",
                    MIN_DAD_TIMEOUT.as_millis(),
                    MAX_DAD_TIMEOUT.as_millis()
                ),
            );
        } else {
            dad = Some(timeout);
        }
    }

    let vlans = (any_vlan && trunk_ok).then_some(VlanPlan {
        pvid: spec.vlan,
        trunk,
        keep_default: spec.keep_default_vlan,
    });
    LinkOptions {
        mtu: spec.mtu,
        port: PortOptions {
            hairpin: spec.hairpin,
            isolated: spec.isolated,
            vlans,
        },
        dad,
    }
}

/// `"10"` or `"20-30"`, each ID 1..=4094, a range not running backwards.
fn parse_vlan_range(entry: &str) -> Result<(u16, u16), String> {
    let not_vlans = || "is not a VLAN ID or range (e.g. 10 or 20-30)".to_string();
    let id = |s: &str| -> Result<u16, String> {
        if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_vlans());
        }
        let v: u32 = s.parse().map_err(|_| not_vlans())?;
        match u16::try_from(v) {
            Ok(v) if (MIN_VLAN..=MAX_VLAN).contains(&v) => Ok(v),
            _ => Err(format!(
                "VLAN ID {v} is not in the range {MIN_VLAN} to {MAX_VLAN}"
            )),
        }
    };
    let (first, last) = match entry.split_once('-') {
        Some((a, b)) => (id(a)?, id(b)?),
        None => {
            let v = id(entry)?;
            (v, v)
        }
    };
    if first > last {
        return Err("range starts after it ends".into());
    }
    Ok((first, last))
}

fn format_range((a, b): (u16, u16)) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}
