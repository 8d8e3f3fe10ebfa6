//! Human and JSON output of the subcommands.

use nsplumb_core::{Attached, LinkStats, LinkView, NetnsRef};
use serde_json::{json, Value};
use std::io::Write;
use std::net::IpAddr;

fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

pub fn print_error(json: bool, message: &str) {
    eprintln!("nsplumb: error: {message}");
    if json {
        emit(&json!({ "error": message }));
    }
}

pub fn print_ok(json: bool, message: &str) {
    if json {
        emit(&json!({ "ok": true, "message": message }));
    } else {
        println!("{message}");
    }
}

pub fn print_netns_added(json: bool, ns: &NetnsRef) {
    if json {
        emit(&json!({ "netns": ns.to_string(), "name": ns.short_name() }));
    } else {
        println!("created namespace {ns}");
    }
}

pub fn print_netns_list(json: bool, list: &[NetnsRef]) {
    if json {
        let v: Vec<Value> = list
            .iter()
            .map(|n| json!({ "name": n.short_name(), "netns": n.to_string() }))
            .collect();
        emit(&Value::Array(v));
    } else {
        for n in list {
            println!("{}", n.short_name());
        }
    }
}

/// `attach --json`: one object, printed as soon as attach returns.
pub fn attached_json(a: &Attached, gateways: &[IpAddr]) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("netns_name".into(), json!(a.netns.short_name()));
        m.insert(
            "gateways".into(),
            json!(gateways.iter().map(|g| g.to_string()).collect::<Vec<_>>()),
        );
    }
    v
}

pub fn print_attached(json: bool, a: &Attached, gateways: &[IpAddr]) {
    if json {
        emit(&attached_json(a, gateways));
        return;
    }
    let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    println!(
        "attached {} as {} in namespace {}: ifindex {}, mac {}, ipv4 {}, ipv6 {}, master {}, mtu {}, announce {}x every {} ms",
        a.source,
        a.name,
        a.netns,
        a.ifindex,
        opt(a.mac.map(|m| m.to_string())),
        opt(a.ipv4.map(|n| n.to_string())),
        opt(a.ipv6.map(|n| n.to_string())),
        opt(a.master.clone()),
        opt(a.mtu.map(|m| m.to_string())),
        a.announce.count,
        a.announce.interval.as_millis()
    );
    if a.hairpin || a.isolated || !a.vlans.is_empty() {
        let mut port = Vec::new();
        if a.hairpin {
            port.push("hairpin".to_string());
        }
        if a.isolated {
            port.push("isolated".to_string());
        }
        for v in &a.vlans {
            port.push(format!("vlan {v}"));
        }
        println!("host end bridge port: {}", port.join(", "));
    }
    if let Some(d) = a.ipv6_dropped {
        println!("note: IPv6 address {d} was dropped (it vanished after the sysctls)");
    }
    for g in gateways {
        println!("gateway {g} set");
    }
    for w in &a.warnings {
        println!("warning: {w}");
    }
    let _ = std::io::stdout().flush();
}

fn flags(v: &LinkView) -> Vec<&'static str> {
    let mut f = Vec::new();
    if v.link.flags.up {
        f.push("UP");
    }
    if v.link.flags.lower_up {
        f.push("LOWER_UP");
    }
    if v.link.flags.running {
        f.push("RUNNING");
    }
    f
}

fn name_of(links: &[LinkView], index: Option<u32>) -> Option<String> {
    let index = index?;
    Some(
        links
            .iter()
            .find(|l| l.link.index == index)
            .map(|l| l.link.name.clone())
            .unwrap_or_else(|| format!("if{index}")),
    )
}

/// One link, `ip -j link` style plus the namespace and nsplumb's own fields.
pub fn link_json(ns: &NetnsRef, v: &LinkView, all: &[LinkView]) -> Value {
    let addr_info: Vec<Value> = v
        .addresses
        .iter()
        .map(|a| {
            json!({
                "family": if a.net.addr().is_ipv4() { "inet" } else { "inet6" },
                "local": a.net.addr().to_string(),
                "prefixlen": a.net.prefix_len(),
                "nodad": a.flags.nodad,
                "tentative": a.flags.tentative,
                "dadfailed": a.flags.dadfailed,
            })
        })
        .collect();
    json!({
        "netns": ns.to_string(),
        "netns_name": ns.short_name(),
        "ifindex": v.link.index,
        "ifname": v.link.name,
        "kind": v.link.kind.as_str(),
        "flags": flags(v),
        "mtu": v.link.mtu,
        "address": v.link.mac.map(|m| m.to_string()),
        "master": name_of(all, v.link.master),
        "peer": v.link.peer.as_ref().map(|p| json!({
            "netns": p.netns.as_ref().map(|n| n.to_string()),
            "ifindex": p.index,
        })),
        "port_state": v.link.port_state,
        // SPEC L6: the bridge port's flags (null for a link that is not a port) and VLANs.
        "hairpin": v.link.port_flags.map(|f| f.hairpin),
        "isolated": v.link.port_flags.map(|f| f.isolated),
        "vlans": v.vlans,
        "addr_info": addr_info,
        "managed": v.managed_source.is_some(),
        "source": v.managed_source,
    })
}

pub fn print_list(json: bool, all: &[(NetnsRef, Vec<LinkView>)]) {
    if json {
        let v: Vec<Value> = all
            .iter()
            .flat_map(|(ns, links)| links.iter().map(move |l| link_json(ns, l, links)))
            .collect();
        emit(&Value::Array(v));
        return;
    }
    let mut rows = vec![[
        "NETNS",
        "IDX",
        "NAME",
        "KIND",
        "STATE",
        "MTU",
        "MAC",
        "ADDRESSES",
        "MASTER",
        "PORT",
        "PEER",
        "SOURCE",
    ]
    .map(String::from)
    .to_vec()];
    for (ns, links) in all {
        for l in links {
            let addrs: Vec<String> = l.addresses.iter().map(|a| a.net.to_string()).collect();
            rows.push(vec![
                ns.short_name().to_string(),
                l.link.index.to_string(),
                l.link.name.clone(),
                l.link.kind.as_str().to_string(),
                if l.link.flags.up { "UP" } else { "DOWN" }.to_string(),
                l.link.mtu.to_string(),
                l.link
                    .mac
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "-".into()),
                if addrs.is_empty() {
                    "-".into()
                } else {
                    addrs.join(",")
                },
                name_of(links, l.link.master).unwrap_or_else(|| "-".into()),
                port_text(l),
                l.link
                    .peer
                    .as_ref()
                    .map(|p| match &p.netns {
                        Some(n) => format!("{}@{}", p.index, n.short_name()),
                        None => p.index.to_string(),
                    })
                    .unwrap_or_else(|| "-".into()),
                l.managed_source.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
    }
    print_table(&rows);
}

/// A bridge port's flags and VLANs (SPEC L6), `-` for a link that is not a port.
pub fn port_text(l: &LinkView) -> String {
    let Some(flags) = l.link.port_flags else {
        return "-".into();
    };
    let mut parts = Vec::new();
    if flags.hairpin {
        parts.push("hairpin".to_string());
    }
    if flags.isolated {
        parts.push("isolated".to_string());
    }
    if !l.vlans.is_empty() {
        let vlans: Vec<String> = l.vlans.iter().map(|v| v.to_string()).collect();
        parts.push(format!("vlan {}", vlans.join(",")));
    }
    if parts.is_empty() {
        "port".into()
    } else {
        parts.join(" ")
    }
}

fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = std::io::stdout().lock();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let _ = out.flush();
}

pub fn stats_json(ns: &NetnsRef, index: u32, name: &str, s: &LinkStats) -> Value {
    json!({
        "netns": ns.to_string(),
        "ifindex": index,
        "ifname": name,
        "stats64": {
            "rx": { "bytes": s.rx_bytes, "packets": s.rx_packets, "errors": s.rx_errors, "dropped": s.rx_dropped },
            "tx": { "bytes": s.tx_bytes, "packets": s.tx_packets, "errors": s.tx_errors, "dropped": s.tx_dropped },
        }
    })
}

pub fn print_stats(json: bool, ns: &NetnsRef, rows: &[(u32, String, LinkStats)]) {
    if json {
        let v: Vec<Value> = rows
            .iter()
            .map(|(i, n, s)| stats_json(ns, *i, n, s))
            .collect();
        emit(&Value::Array(v));
        return;
    }
    let mut table = vec![[
        "NAME", "RX_BYTES", "RX_PKTS", "RX_ERR", "RX_DROP", "TX_BYTES", "TX_PKTS", "TX_ERR",
        "TX_DROP",
    ]
    .map(String::from)
    .to_vec()];
    for (_, n, s) in rows {
        table.push(vec![
            n.clone(),
            s.rx_bytes.to_string(),
            s.rx_packets.to_string(),
            s.rx_errors.to_string(),
            s.rx_dropped.to_string(),
            s.tx_bytes.to_string(),
            s.tx_packets.to_string(),
            s.tx_errors.to_string(),
            s.tx_dropped.to_string(),
        ]);
    }
    print_table(&table);
}
