//! SPEC C3, C6, C9: `ipMasq` with nftables, one rule set per container.
//!
//! Table `inet nsplumb`, one base chain per network (`masq-<network>`, type nat, hook
//! postrouting, priority srcnat), and per container address one rule
//! `ip saddr A ip daddr != SUBNET ip daddr != 224.0.0.0/4 masquerade` (`ip6`, `ff00::/8` for
//! IPv6) whose comment is the owner's tag (container ID and interface name). ADD replaces the
//! owner's rules in one transaction (idempotent), DEL deletes them, GC deletes every rule whose
//! owner is not in the valid list. Rules are read and written through `nft -j` (libnftables'
//! JSON), with the `nftables` crate's types; `nft` runs bounded in time and output. The table
//! and the chains stay when empty: deleting them would race with a concurrent ADD.

use crate::child::{self, Limits, Stderr};
use crate::env::Attachment;
use crate::error::{CniError, ErrorCode};
use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::expr::{Expression, NamedExpression, Payload, PayloadField, Prefix};
use nftables::schema::{Chain, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The table that holds every network's masquerade chain.
pub const TABLE: &str = "nsplumb";
/// `srcnat`: where masquerading belongs in postrouting.
const SRCNAT_PRIORITY: i32 = 100;
/// Longest chain name or rule comment written (the kernel allows 255 and 256 bytes).
const MAX_NAME: usize = 128;

/// How long `nft` may take and how much it may print (a chain listing of many containers).
pub const NFT_LIMITS: Limits = Limits {
    timeout: Duration::from_secs(10),
    max_output: 16 << 20,
};

/// One masquerade rule, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasqueradeRule {
    /// The owner's tag ([`owner_tag`]).
    pub owner: String,
    pub handle: u32,
    /// The masqueraded source address, as nft prints it.
    pub source: String,
}

/// Runs `nft` for one network's masquerade chain.
#[derive(Debug, Clone)]
pub struct Masquerade {
    nft: PathBuf,
    limits: Limits,
}

impl Masquerade {
    /// `nft` found in `PATH`, else where Debian puts it (runtimes may give plugins a short
    /// `PATH`).
    pub fn system() -> Masquerade {
        let nft = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join("nft"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/nft"));
        Masquerade::with_program(nft, NFT_LIMITS)
    }

    pub fn with_program(nft: impl Into<PathBuf>, limits: Limits) -> Masquerade {
        Masquerade {
            nft: nft.into(),
            limits,
        }
    }

    /// Masquerades `addresses` of `owner` leaving their subnets, replacing the owner's rules.
    pub fn add(
        &self,
        network: &str,
        owner: &Attachment,
        addresses: &[IpNet],
    ) -> Result<(), CniError> {
        let chain = chain_name(network);
        let tag = owner_tag(owner);
        let stale = self.rules_of_chain(&chain, network)?;
        let mut batch = Batch::new();
        batch.add(NfListObject::Table(Table {
            family: NfFamily::INet,
            name: TABLE.into(),
            handle: None,
        }));
        batch.add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: TABLE.into(),
            name: chain.clone().into(),
            _type: Some(NfChainType::NAT),
            hook: Some(NfHook::Postrouting),
            prio: Some(SRCNAT_PRIORITY),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        }));
        for rule in stale.iter().filter(|r| r.owner == tag) {
            batch.delete(rule_handle(&chain, rule.handle));
        }
        for address in addresses {
            batch.add(NfListObject::Rule(Rule {
                family: NfFamily::INet,
                table: TABLE.into(),
                chain: chain.clone().into(),
                expr: masquerade_expr(address).into(),
                comment: Some(tag.clone().into()),
                ..Rule::default()
            }));
        }
        self.apply(
            batch,
            &format!("add masquerade rules for {tag} on network {network:?}"),
        )
    }

    /// Deletes `owner`'s rules; how many there were.
    pub fn remove(&self, network: &str, owner: &Attachment) -> Result<usize, CniError> {
        let tag = owner_tag(owner);
        self.delete_where(network, |rule| rule.owner == tag)
    }

    /// Deletes the rules of every owner not in `valid`; how many there were.
    pub fn gc(&self, network: &str, valid: &[Attachment]) -> Result<usize, CniError> {
        let keep: BTreeSet<String> = valid.iter().map(owner_tag).collect();
        self.delete_where(network, |rule| !keep.contains(&rule.owner))
    }

    /// The network's rules (none when its chain does not exist).
    pub fn rules(&self, network: &str) -> Result<Vec<MasqueradeRule>, CniError> {
        self.rules_of_chain(&chain_name(network), network)
    }

    fn delete_where(
        &self,
        network: &str,
        doomed: impl Fn(&MasqueradeRule) -> bool,
    ) -> Result<usize, CniError> {
        let chain = chain_name(network);
        let rules: Vec<MasqueradeRule> = self
            .rules_of_chain(&chain, network)?
            .into_iter()
            .filter(|r| doomed(r))
            .collect();
        if rules.is_empty() {
            return Ok(0);
        }
        let mut batch = Batch::new();
        for rule in &rules {
            batch.delete(rule_handle(&chain, rule.handle));
        }
        self.apply(
            batch,
            &format!("delete masquerade rules on network {network:?}"),
        )?;
        Ok(rules.len())
    }

    fn rules_of_chain(&self, chain: &str, network: &str) -> Result<Vec<MasqueradeRule>, CniError> {
        let mut command = Command::new(&self.nft);
        command.args(["-j", "list", "chain", "inet", TABLE, chain]);
        let doing = format!("list the masquerade rules of network {network:?}");
        let output = child::run(command, b"", Stderr::Capture, self.limits)
            .map_err(|e| self.error(&doing, e.to_string()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("No such file or directory") {
                return Ok(Vec::new()); // no table or no chain yet
            }
            return Err(self.error(&doing, stderr.trim().to_string()));
        }
        let listed: Nftables = serde_json::from_slice(&output.stdout)
            .map_err(|e| self.error(&doing, format!("unreadable JSON: {e}")))?;
        Ok(listed
            .objects
            .iter()
            .filter_map(|object| match object {
                NfObject::ListObject(NfListObject::Rule(rule)) => Some(rule),
                _ => None,
            })
            .filter_map(|rule| {
                Some(MasqueradeRule {
                    owner: rule.comment.as_deref()?.to_string(),
                    handle: rule.handle?,
                    source: source_of(rule).unwrap_or_default(),
                })
            })
            .collect())
    }

    fn apply(&self, batch: Batch<'_>, doing: &str) -> Result<(), CniError> {
        let input = serde_json::to_vec(&batch.to_nftables()).expect("nftables JSON serializes");
        let mut command = Command::new(&self.nft);
        command.args(["-j", "-f", "-"]);
        let output = child::run(command, &input, Stderr::Capture, self.limits)
            .map_err(|e| self.error(doing, e.to_string()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(self.error(doing, stderr.trim().to_string()));
        }
        Ok(())
    }

    fn error(&self, doing: &str, why: String) -> CniError {
        CniError::new(
            ErrorCode::MASQUERADE_FAILED,
            format!("could not {doing} with {}: {why}", self.nft.display()),
        )
    }

    /// The `nft` program this runs.
    pub fn program(&self) -> &Path {
        &self.nft
    }
}

/// `[ip|ip6] saddr A [ip|ip6] daddr != SUBNET [ip|ip6] daddr != MULTICAST masquerade`.
fn masquerade_expr(address: &IpNet) -> Vec<Statement<'static>> {
    let (family, multicast) = match address {
        IpNet::V4(_) => ("ip", "224.0.0.0/4".parse::<IpNet>().expect("literal")),
        IpNet::V6(_) => ("ip6", "ff00::/8".parse::<IpNet>().expect("literal")),
    };
    let field = |name: &'static str| {
        Expression::Named(NamedExpression::Payload(Payload::PayloadField(
            PayloadField {
                protocol: Cow::Borrowed(family),
                field: Cow::Borrowed(name),
            },
        )))
    };
    let prefix = |net: IpNet| {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(Expression::String(net.network().to_string().into())),
            len: u32::from(net.prefix_len()),
        }))
    };
    vec![
        Statement::Match(Match {
            left: field("saddr"),
            right: Expression::String(address.addr().to_string().into()),
            op: Operator::EQ,
        }),
        Statement::Match(Match {
            left: field("daddr"),
            right: prefix(address.trunc()),
            op: Operator::NEQ,
        }),
        Statement::Match(Match {
            left: field("daddr"),
            right: prefix(multicast),
            op: Operator::NEQ,
        }),
        Statement::Masquerade(None),
    ]
}

fn rule_handle(chain: &str, handle: u32) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: NfFamily::INet,
        table: TABLE.into(),
        chain: chain.to_string().into(),
        handle: Some(handle),
        ..Rule::default()
    })
}

/// The source address a listed rule masquerades (its first `saddr` match).
fn source_of(rule: &Rule<'_>) -> Option<String> {
    rule.expr.iter().find_map(|statement| match statement {
        Statement::Match(Match {
            right: Expression::String(source),
            op: Operator::EQ,
            ..
        }) => Some(source.to_string()),
        _ => None,
    })
}

/// The chain of `network`: `masq-<network>`, shortened with a hash when very long.
pub fn chain_name(network: &str) -> String {
    bounded(&format!("masq-{network}"))
}

/// The comment that marks `owner`'s rules: `<container ID>/<ifname>`, with a long container ID
/// shortened and a hash of the whole appended.
pub fn owner_tag(owner: &Attachment) -> String {
    bounded(&format!("{}/{}", owner.container_id, owner.ifname))
}

/// `text` if it fits in [`MAX_NAME`], else its head, `~` and a hash of the whole of it.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_NAME {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_NAME - 17).collect();
    format!("{head}~{:016x}", fnv1a(text.as_bytes()))
}

/// FNV-1a, 64 bits: stable across builds and versions (std's hashers are not promised to be),
/// so a later plugin process finds the names an earlier one wrote.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags_fit_the_kernel_and_long_ones_stay_distinct_and_stable() {
        let owner = Attachment {
            container_id: "a".repeat(64),
            ifname: "eth0".into(),
        };
        assert_eq!(owner_tag(&owner), format!("{}/eth0", "a".repeat(64)));
        assert_eq!(chain_name("podman"), "masq-podman");
        let long = |c: char| Attachment {
            container_id: c.to_string().repeat(300),
            ifname: "eth0".into(),
        };
        let (a, b) = (owner_tag(&long('a')), owner_tag(&long('b')));
        assert!(a.len() <= MAX_NAME && b.len() <= MAX_NAME);
        assert_ne!(a, b);
        assert_eq!(a, owner_tag(&long('a')));
        // FNV-1a's published 64-bit test vectors: the same names from any build.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_rule_is_the_masquerade_expression_of_the_bridge_plugin() {
        let rule = serde_json::to_value(masquerade_expr(&"192.0.2.5/24".parse().unwrap())).unwrap();
        assert_eq!(
            rule,
            serde_json::json!([
                {"match": {"left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "192.0.2.5", "op": "=="}},
                {"match": {"left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "192.0.2.0", "len": 24}}, "op": "!="}},
                {"match": {"left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "224.0.0.0", "len": 4}}, "op": "!="}},
                {"masquerade": null},
            ])
        );
        let rule = serde_json::to_value(masquerade_expr(&"fd00:1::5/64".parse().unwrap())).unwrap();
        assert_eq!(rule[0]["match"]["left"]["payload"]["protocol"], "ip6");
        assert_eq!(rule[1]["match"]["right"]["prefix"]["addr"], "fd00:1::");
        assert_eq!(rule[2]["match"]["right"]["prefix"]["addr"], "ff00::");
    }
}
