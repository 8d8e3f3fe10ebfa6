//! Frame-time benchmark: 1,000 interfaces rendered into a ratatui `TestBackend`.

use super::model::{LinkRow, Model, Progress, StatHist};
use super::view;
use nsplumb_core::{LinkStats, NetnsRef, Timestamp};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::time::{Duration, Instant};

/// A model with `n` interfaces over 10 namespaces, counters, history and announcements.
pub fn big_model(n: usize) -> Model {
    let mut m = Model::new("simulator", true);
    m.namespaces = (0..10)
        .map(|i| NetnsRef::path(format!("/run/netns/ctr{i}")))
        .collect();
    for i in 0..n {
        let ns = m.namespaces[i % 10].clone();
        let name = format!("eth{}", i / 10);
        let row = LinkRow {
            netns: ns.clone(),
            index: (i / 10 + 2) as u32,
            name: name.clone(),
            kind: "veth".into(),
            up: i % 7 != 0,
            lower_up: true,
            mac: Some(format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256)),
            ipv4: Some(format!("192.0.2.{}/24", i % 250 + 2)),
            ipv6: Some(format!("fd00:1::{:x}/64", i + 2)),
            master: None,
            peer: Some(format!("{}@host", i + 100)),
            managed: Some(format!("vnsp{i:08x}")),
            mtu: 1500,
            port: None,
        };
        let mut h = StatHist {
            last: LinkStats {
                rx_bytes: (i * 1000) as u64,
                tx_bytes: (i * 700) as u64,
                rx_packets: i as u64,
                tx_packets: i as u64,
                ..LinkStats::default()
            },
            at: Timestamp::from_nanos(1),
            rx_rate: 1234.0,
            tx_rate: 456.0,
            history: Default::default(),
        };
        for k in 0..40u64 {
            h.history.push_back((k * 37 + i as u64) % 100);
        }
        m.stats.insert((ns.clone(), name.clone()), h);
        m.progress.insert(
            (ns.clone(), name.clone()),
            Progress {
                sent: (i % 4) as u32,
                of: 3,
                next_due: Some(Timestamp::from_nanos(1_500_000_000)),
                stopped: (i % 4 == 3).then(|| "done".to_string()),
                phase: Some("announcing".into()),
            },
        );
        m.links.push(row);
    }
    for i in 0..200 {
        m.push_log(format!("{i:>9.3}s ctr1/eth{i}: announced 1/3"));
    }
    m.rebuild_view();
    m.selected = n / 2;
    m.offset = n / 2 - 10;
    m
}

/// Frame times of `frames` renders of each of the four views (median, p99).
pub fn measure(n: usize, frames: usize) -> (Duration, Duration) {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    let mut m = big_model(n);
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames {
        m.tab = super::model::Tab::ALL[i % 4];
        let t = Instant::now();
        terminal.draw(|f| view(&m, f)).expect("draw");
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    (median, p99)
}

pub fn run_and_print(interfaces: usize, frames: usize) {
    let (median, p99) = measure(interfaces, frames.max(1));
    println!(
        "tui frame time with {interfaces} interfaces over {frames} frames (120x40, all views): median {:.3} ms, p99 {:.3} ms",
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}
