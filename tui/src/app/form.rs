//! The attach form: fields, their editing, and inline validation with the SPEC's error text
//! (from `nsplumb_core::validate`).

use nsplumb_core::{validate, Destination, NetnsRef, Source, Spec, DEFAULT_ANNOUNCE_INTERVAL};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// Placeholder host-end name used for validation; the effect runner generates the real one.
pub const VETH_PLACEHOLDER: &str = "vnsp00000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldKey {
    Namespace,
    SourceKind,
    Source,
    DestKind,
    Dest,
    Mac,
    Ipv4,
    Ipv6,
    LinkLocal,
    Routes,
    Sysctls,
    Master,
    Gateway,
    AnnounceCount,
    AnnounceInterval,
    Mtu,
    Hairpin,
    Isolated,
    Vlan,
    VlanTrunk,
    KeepDefaultVlan,
    Dad,
    DadTimeout,
}

pub const SOURCE_KINDS: [&str; 4] = [
    "new veth on bridge",
    "host link",
    "new bridge",
    "created in netns",
];
pub const DEST_KINDS: [&str; 2] = ["prefix", "name"];
/// A switch (SPEC L2–L5 options that are on or off).
pub const OFF_ON: [&str; 2] = ["off", "on"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub key: FieldKey,
    pub label: &'static str,
    pub value: String,
    /// For choice fields: the options; `value` is one of them.
    pub choices: Option<&'static [&'static str]>,
    pub hint: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachForm {
    pub fields: Vec<Field>,
    pub focus: usize,
    /// Inline errors by field, shown under it.
    pub errors: BTreeMap<FieldKey, String>,
    /// Set after the first submit: from then on every edit re-validates.
    pub submitted: bool,
}

fn field(key: FieldKey, label: &'static str, value: &str, hint: &'static str) -> Field {
    Field {
        key,
        label,
        value: value.to_string(),
        choices: None,
        hint,
    }
}

/// What a valid form asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest {
    pub netns: NetnsRef,
    pub spec: Spec,
    pub gateway: Option<IpAddr>,
}

impl AttachForm {
    pub fn new(namespace: &str, bridge: &str) -> AttachForm {
        let mut source_kind = field(
            FieldKey::SourceKind,
            "source kind",
            SOURCE_KINDS[0],
            "←/→ to choose",
        );
        source_kind.choices = Some(&SOURCE_KINDS);
        let mut dest_kind = field(
            FieldKey::DestKind,
            "name or prefix",
            DEST_KINDS[0],
            "←/→ to choose",
        );
        dest_kind.choices = Some(&DEST_KINDS);
        let switch = |key, label, hint| {
            let mut f = field(key, label, OFF_ON[0], hint);
            f.choices = Some(&OFF_ON);
            f
        };
        AttachForm {
            fields: vec![
                field(
                    FieldKey::Namespace,
                    "namespace",
                    namespace,
                    "name under /run/netns, a path, or host",
                ),
                source_kind,
                field(
                    FieldKey::Source,
                    "source / bridge",
                    bridge,
                    "link name, or the bridge for a new veth",
                ),
                dest_kind,
                field(
                    FieldKey::Dest,
                    "name / prefix",
                    "eth",
                    "e.g. eth (→ eth0, eth1…)",
                ),
                field(FieldKey::Mac, "MAC", "", "aa:bb:cc:dd:ee:ff (optional)"),
                field(FieldKey::Ipv4, "IPv4", "", "CIDR, e.g. 192.0.2.10/24"),
                field(FieldKey::Ipv6, "IPv6", "", "CIDR, e.g. fd00:1::10/64"),
                field(
                    FieldKey::LinkLocal,
                    "link-local",
                    "",
                    "CIDRs, comma-separated",
                ),
                field(FieldKey::Routes, "routes", "", "CIDRs, comma-separated"),
                field(
                    FieldKey::Sysctls,
                    "sysctls",
                    "",
                    "net.X.Y.IFNAME.Z=V, space-separated",
                ),
                field(
                    FieldKey::Master,
                    "master",
                    "",
                    "source name of a bridge attached here",
                ),
                field(FieldKey::Gateway, "gateway", "", "IP, set after attach"),
                field(FieldKey::AnnounceCount, "announce count", "3", "0..=3"),
                field(
                    FieldKey::AnnounceInterval,
                    "interval ms",
                    "1000",
                    "100..=2000",
                ),
                field(FieldKey::Mtu, "MTU", "", "68..=65535 (optional)"),
                switch(
                    FieldKey::Hairpin,
                    "hairpin",
                    "host end's bridge port (veth on bridge)",
                ),
                switch(
                    FieldKey::Isolated,
                    "isolated",
                    "host end's bridge port (veth on bridge)",
                ),
                field(FieldKey::Vlan, "VLAN", "", "untagged PVID, 1..=4094"),
                field(
                    FieldKey::VlanTrunk,
                    "VLAN trunk",
                    "",
                    "tagged IDs and ranges, e.g. 10,20-30",
                ),
                switch(
                    FieldKey::KeepDefaultVlan,
                    "keep VLAN 1",
                    "the default VLAN stays on the port",
                ),
                switch(FieldKey::Dad, "DAD", "wait for IPv6 duplicate detection"),
                field(
                    FieldKey::DadTimeout,
                    "DAD timeout ms",
                    "",
                    "100..=30000 (default 3000)",
                ),
            ],
            focus: 0,
            errors: BTreeMap::new(),
            submitted: false,
        }
    }

    pub fn get(&self, key: FieldKey) -> &str {
        self.fields
            .iter()
            .find(|f| f.key == key)
            .map(|f| f.value.as_str())
            .unwrap_or("")
    }

    pub fn set(&mut self, key: FieldKey, value: &str) {
        if let Some(f) = self.fields.iter_mut().find(|f| f.key == key) {
            f.value = value.to_string();
        }
    }

    pub fn focused(&self) -> &Field {
        &self.fields[self.focus]
    }

    pub fn next(&mut self) {
        self.focus = (self.focus + 1) % self.fields.len();
    }

    pub fn prev(&mut self) {
        self.focus = (self.focus + self.fields.len() - 1) % self.fields.len();
    }

    /// Left/right on a choice field.
    pub fn cycle(&mut self, forward: bool) {
        let f = &mut self.fields[self.focus];
        if let Some(choices) = f.choices {
            let i = choices.iter().position(|c| *c == f.value).unwrap_or(0);
            let n = choices.len();
            let j = if forward {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            f.value = choices[j].to_string();
            self.revalidate();
        }
    }

    pub fn type_char(&mut self, c: char) {
        let f = &mut self.fields[self.focus];
        if f.choices.is_some() {
            if c == ' ' {
                self.cycle(true);
            }
            return;
        }
        f.value.push(c);
        self.revalidate();
    }

    pub fn backspace(&mut self) {
        let f = &mut self.fields[self.focus];
        if f.choices.is_none() {
            f.value.pop();
            self.revalidate();
        }
    }

    /// Ctrl-U: empty the focused text field.
    pub fn clear(&mut self) {
        let f = &mut self.fields[self.focus];
        if f.choices.is_none() {
            f.value.clear();
            self.revalidate();
        }
    }

    fn revalidate(&mut self) {
        if self.submitted {
            let _ = self.validate();
        }
    }

    /// Check every field; fills `errors` (all problems at once) and returns the request when
    /// everything is valid.
    pub fn validate(&mut self) -> Option<AttachRequest> {
        let mut errors: BTreeMap<FieldKey, Vec<String>> = BTreeMap::new();
        let mut err = |k: FieldKey, m: String| errors.entry(k).or_default().push(m);
        let ns = self.get(FieldKey::Namespace).trim().to_string();
        if ns.is_empty() {
            err(FieldKey::Namespace, "namespace must not be empty".into());
        }
        let src = self.get(FieldKey::Source).trim().to_string();
        let source = match self.get(FieldKey::SourceKind) {
            "host link" => Source::HostLink(src),
            "new bridge" => Source::NewBridge(src),
            "created in netns" => Source::CreatedInNamespace(src),
            _ => Source::VethOnBridge {
                bridge: src,
                host_name: VETH_PLACEHOLDER.into(),
            },
        };
        let dst = self.get(FieldKey::Dest).trim().to_string();
        let destination = if self.get(FieldKey::DestKind) == "name" {
            Destination::Name(dst)
        } else {
            Destination::Prefix(dst)
        };
        let mut spec = Spec::new(source, destination);
        let opt = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        };
        let list = |s: &str, sep: char| -> Vec<String> {
            s.split(sep)
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        };
        spec.mac = opt(self.get(FieldKey::Mac));
        spec.ipv4 = opt(self.get(FieldKey::Ipv4));
        spec.ipv6 = opt(self.get(FieldKey::Ipv6));
        spec.link_local = list(self.get(FieldKey::LinkLocal), ',');
        spec.routes = list(self.get(FieldKey::Routes), ',');
        spec.sysctls = list(self.get(FieldKey::Sysctls), ' ');
        spec.master = opt(self.get(FieldKey::Master));
        let on = |k: FieldKey| self.get(k) == OFF_ON[1];
        spec.hairpin = on(FieldKey::Hairpin);
        spec.isolated = on(FieldKey::Isolated);
        spec.keep_default_vlan = on(FieldKey::KeepDefaultVlan);
        spec.dad = on(FieldKey::Dad);
        spec.vlan_trunk = list(self.get(FieldKey::VlanTrunk), ',');
        spec.mtu = number(self.get(FieldKey::Mtu), "mtu", FieldKey::Mtu, &mut err);
        spec.vlan = number(self.get(FieldKey::Vlan), "vlan", FieldKey::Vlan, &mut err);
        spec.dad_timeout_ms = number(
            self.get(FieldKey::DadTimeout),
            "dad_timeout_ms",
            FieldKey::DadTimeout,
            &mut err,
        );
        match self.get(FieldKey::AnnounceCount).trim().parse::<u32>() {
            Ok(n) => spec.announce_count = n,
            Err(_) => err(
                FieldKey::AnnounceCount,
                format!(
                    "announce count {:?} is not a number",
                    self.get(FieldKey::AnnounceCount)
                ),
            ),
        }
        let interval = self.get(FieldKey::AnnounceInterval).trim();
        if interval.is_empty() {
            spec.announce_interval = DEFAULT_ANNOUNCE_INTERVAL;
        } else {
            match interval.parse::<u64>() {
                Ok(ms) => spec.announce_interval = Duration::from_millis(ms),
                Err(_) => err(
                    FieldKey::AnnounceInterval,
                    format!("announce interval {interval:?} is not a number of milliseconds"),
                ),
            }
        }
        let gateway = match opt(self.get(FieldKey::Gateway)) {
            None => None,
            Some(g) => match g.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    err(
                        FieldKey::Gateway,
                        format!("gateway {g:?}: is not an IP address"),
                    );
                    None
                }
            },
        };
        if let Err(invalid) = validate(&spec) {
            for p in invalid.problems {
                let key = match p.field {
                    "source" | "veth_on_bridge" => FieldKey::Source,
                    "name" | "prefix" => FieldKey::Dest,
                    "mac" => FieldKey::Mac,
                    "ipv4" => FieldKey::Ipv4,
                    "ipv6" => FieldKey::Ipv6,
                    "link_local" => FieldKey::LinkLocal,
                    "route" => FieldKey::Routes,
                    "sysctl" => FieldKey::Sysctls,
                    "master" => FieldKey::Master,
                    "announce_count" => FieldKey::AnnounceCount,
                    "announce_interval_ms" => FieldKey::AnnounceInterval,
                    "mtu" => FieldKey::Mtu,
                    "hairpin" => FieldKey::Hairpin,
                    "isolated" => FieldKey::Isolated,
                    "vlan" => FieldKey::Vlan,
                    "vlan_trunk" => FieldKey::VlanTrunk,
                    "keep_default_vlan" => FieldKey::KeepDefaultVlan,
                    "dad_timeout_ms" => FieldKey::DadTimeout,
                    _ => FieldKey::Namespace,
                };
                err(key, p.to_string());
            }
        }
        self.errors = errors.into_iter().map(|(k, v)| (k, v.join("; "))).collect();
        if !self.errors.is_empty() {
            return None;
        }
        Some(AttachRequest {
            netns: NetnsRef::from_name_or_path(&ns),
            spec,
            gateway,
        })
    }
}

/// An optional number field: empty is `None`; text that is not a number of the field's type is
/// an error naming the field and the text.
fn number<T: std::str::FromStr>(
    text: &str,
    name: &str,
    key: FieldKey,
    err: &mut dyn FnMut(FieldKey, String),
) -> Option<T> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match text.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            err(key, format!("{name} {text:?}: is not a number in range"));
            None
        }
    }
}
