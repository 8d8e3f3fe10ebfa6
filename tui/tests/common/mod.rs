#![allow(dead_code)]
//! A fixed model for key and snapshot tests.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nsplumb_core::{NetnsRef, Timestamp};
use nsplumb_tui::app::model::{LinkRow, Model, Msg, Progress, Snapshot};
use nsplumb_tui::app::{update, Effect};
use std::time::Duration;

pub fn ns(n: &str) -> NetnsRef {
    NetnsRef::from_name_or_path(n)
}

fn link(netns: &str, index: u32, name: &str, kind: &str, up: bool) -> LinkRow {
    LinkRow {
        netns: if netns == "host" {
            NetnsRef::Host
        } else {
            ns(netns)
        },
        index,
        name: name.into(),
        kind: kind.into(),
        up,
        lower_up: up,
        mac: Some(format!("02:00:00:00:00:{index:02x}")),
        ipv4: None,
        ipv6: None,
        master: None,
        peer: None,
        managed: None,
        mtu: if kind == "loopback" { 65536 } else { 1500 },
        port: None,
    }
}

pub fn sample_snapshot(at: Timestamp, rx: u64) -> Snapshot {
    let mut links = vec![
        link("host", 1, "lo", "loopback", true),
        link("host", 2, "br0", "bridge", true),
        link("host", 3, "dummy0", "dummy", false),
        link("ctr1", 1, "lo", "loopback", true),
        link("ctr1", 2, "eth0", "veth", true),
        link("ctr2", 1, "lo", "loopback", true),
        link("ctr2", 2, "eth0", "veth", true),
        link("ctr3", 1, "lo", "loopback", true),
    ];
    links[1].ipv4 = Some("192.0.2.1/24".into());
    links[1].ipv6 = Some("fd00:1::1/64".into());
    links[4].ipv4 = Some("192.0.2.10/24".into());
    links[4].ipv6 = Some("fd00:1::10/64".into());
    links[4].peer = Some("7@host".into());
    links[4].managed = Some("vnsp0000abcd".into());
    links[6].ipv4 = Some("192.0.2.11/24".into());
    links[6].master = None;
    links[6].peer = Some("8@host".into());
    links[6].managed = Some("vnsp0000beef".into());
    // SPEC L6: an MTU that is not the default, and a host end's bridge port with its flags.
    links[6].mtu = 1400;
    links[2] = link("host", 3, "vnsp0000abcd", "veth", true);
    links[2].master = Some("br0".into());
    links[2].port = Some("hp,iso".into());
    links[4].peer = Some("3@host".into());
    let stats = links
        .iter()
        .map(|l| {
            (
                l.key(),
                nsplumb_core::LinkStats {
                    rx_bytes: rx * l.index as u64,
                    tx_bytes: rx / 2,
                    rx_packets: rx / 100,
                    tx_packets: rx / 200,
                    ..Default::default()
                },
            )
        })
        .collect();
    Snapshot {
        namespaces: vec![NetnsRef::Host, ns("ctr1"), ns("ctr2"), ns("ctr3")],
        links,
        stats,
        at,
    }
}

/// A model with links, counters over several refreshes, announcement progress and a log.
pub fn sample_model() -> Model {
    let mut m = Model::new("simulator", true);
    for i in 1..=6u64 {
        let at = Timestamp::from_duration(Duration::from_millis(500 * i));
        m = update(m, Msg::Snapshot(sample_snapshot(at, 1000 * i * i))).0;
    }
    m.now = Timestamp::from_duration(Duration::from_millis(3300));
    let p = |sent, of, due: Option<u64>, stopped: Option<&str>| Progress {
        sent,
        of,
        next_due: due.map(|ms| Timestamp::from_duration(Duration::from_millis(ms))),
        stopped: stopped.map(String::from),
        phase: Some("attached".into()),
    };
    m.progress
        .insert((ns("ctr1"), "eth0".into()), p(1, 3, Some(4000), None));
    m.progress
        .insert((ns("ctr2"), "eth0".into()), p(3, 3, None, Some("done")));
    m.progress.insert(
        (ns("ctr2"), "eth1".into()),
        p(1, 3, None, Some("cancelled")),
    );
    m.progress.insert(
        (ns("ctr3"), "eth0".into()),
        p(
            2,
            3,
            None,
            Some("MAC address changed, got 02:00:00:00:00:99, expected 02:00:00:00:00:02"),
        ),
    );
    m.progress.insert(
        (ns("ctr3"), "eth1".into()),
        p(
            0,
            3,
            None,
            Some("send error: send unsolicited ARP on ifindex 3 in /run/netns/ctr3: EIO"),
        ),
    );
    for l in [
        "    1.000s ctr1/eth0: obtaining",
        "    1.001s ctr1/eth0: announced 1/3",
        "    1.002s ctr1/eth0: attached (ifindex 2, source vnsp0000abcd)",
        "    2.500s ctr3/eth0: announcing stopped: MAC address changed",
    ] {
        m.push_log(l.to_string());
    }
    m
}

pub fn key(m: Model, code: KeyCode) -> (Model, Vec<Effect>) {
    update(m, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

pub fn chr(m: Model, c: char) -> (Model, Vec<Effect>) {
    key(m, KeyCode::Char(c))
}

pub fn typed(mut m: Model, s: &str) -> Model {
    for c in s.chars() {
        m = chr(m, c).0;
    }
    m
}
