//! `nsplumb-bench report`: the ratios of the targets, from one run's figures: the harness JSON,
//! attach-bench's `raw.csv` (peer tools and the nsplumb CLI as its `custom` tool), and the
//! printed output of the other engineers' benches (P3 first ARP, P5 lifecycles, P7 frame).

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Default)]
pub struct Inputs {
    /// One harness JSON per repetition; a figure is the median of its per-rep medians.
    pub harness: Vec<Value>,
    pub raw_csv: Option<String>,
    pub texts: Vec<String>,
    pub custom_name: String,
}

/// Per-tool figures from attach-bench's raw.csv, in ms per interface.
#[derive(Default, Debug)]
struct Peer {
    /// Median of the per-attach samples (pooled over reps), when the tool has them.
    attach_median: Option<f64>,
    attach_p90: Option<f64>,
    detach_median: Option<f64>,
    /// attach-total / N (median over reps).
    attach_total_per_if: Option<f64>,
    detach_total_per_if: Option<f64>,
    /// ip-batch*: (attach-total - N empty `ip -n` processes) / N (median over reps).
    floor_per_if: Option<f64>,
}

fn med(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(crate::stats::median(&v))
}

fn p90(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(crate::stats::pct(&v, 0.9))
}

fn peers(csv: &str) -> BTreeMap<String, Peer> {
    // tool -> phase -> rep -> samples (ms)
    let mut rows: BTreeMap<(String, String), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut n_of: BTreeMap<String, f64> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            continue;
        }
        let (Ok(n), Ok(us)) = (f[1].parse::<f64>(), f[5].parse::<f64>()) else {
            continue;
        };
        n_of.insert(f[0].to_string(), n);
        rows.entry((f[0].to_string(), f[3].to_string()))
            .or_default()
            .entry(f[2].to_string())
            .or_default()
            .push(us / 1000.0);
    }
    let mut out: BTreeMap<String, Peer> = BTreeMap::new();
    let pooled = |tool: &str, phase: &str| -> Vec<f64> {
        rows.get(&(tool.to_string(), phase.to_string()))
            .map(|m| m.values().flatten().copied().collect())
            .unwrap_or_default()
    };
    let per_rep = |tool: &str, phase: &str| -> BTreeMap<String, f64> {
        rows.get(&(tool.to_string(), phase.to_string()))
            .map(|m| m.iter().map(|(r, v)| (r.clone(), v[0])).collect())
            .unwrap_or_default()
    };
    for (tool, n) in &n_of {
        let mut p = Peer::default();
        let a = pooled(tool, "attach");
        p.attach_median = med(a.clone());
        p.attach_p90 = p90(a);
        p.detach_median = med(pooled(tool, "detach"));
        let at = per_rep(tool, "attach-total");
        p.attach_total_per_if = med(at.values().map(|v| v / n).collect());
        p.detach_total_per_if = med(per_rep(tool, "detach-total")
            .values()
            .map(|v| v / n)
            .collect());
        let noop = per_rep(tool, "noop-ns-total");
        if !noop.is_empty() {
            p.floor_per_if = med(at
                .iter()
                .filter_map(|(r, t)| noop.get(r).map(|z| (t - z) / n))
                .collect());
        }
        out.insert(tool.clone(), p);
    }
    out
}

fn harness_median(hs: &[Value], id: &str) -> Option<f64> {
    harness_field(hs, id, "median_ms")
}

/// The median over repetitions of one field of figure `id`.
fn harness_field(hs: &[Value], id: &str, field: &str) -> Option<f64> {
    med(hs
        .iter()
        .filter_map(|h| h["figures"].as_array()?.iter().find(|f| f["id"] == id)?[field].as_f64())
        .collect())
}

fn harness_scalar(hs: &[Value], id: &str) -> Option<f64> {
    med(hs
        .iter()
        .filter_map(|h| h["scalars"].as_array()?.iter().find(|s| s[0] == id)?[1].as_f64())
        .collect())
}

/// The number after `key` in the first line containing `marker`.
fn find_number(texts: &[String], marker: &str, key: &str) -> Option<f64> {
    for t in texts {
        for line in t.lines() {
            if !line.contains(marker) {
                continue;
            }
            let rest = &line[line.find(marker)?..];
            let after = &rest[rest.find(key)? + key.len()..];
            let num: String = after
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            if let Ok(v) = num.parse() {
                return Some(v);
            }
        }
    }
    None
}

fn f(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.3}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

struct Target {
    id: &'static str,
    what: String,
    measured: Option<f64>,
    /// Display of the measured value.
    shown: String,
    goal: &'static str,
    met: Option<bool>,
}

/// The throughput figures `{prefix}.{level}` (level `c<K>` or `all`, see `batch.rs`), median
/// over repetitions; by K ascending, `all` last.
fn batch_levels(hs: &[Value], prefix: &str) -> Vec<(String, f64)> {
    let mut labels: Vec<String> = Vec::new();
    for h in hs {
        let Some(figs) = h["figures"].as_array() else {
            continue;
        };
        for fig in figs {
            let Some(id) = fig["id"].as_str() else {
                continue;
            };
            let Some(level) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let is_level = level == "all"
                || level == "many"
                || level
                    .strip_prefix('c')
                    .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()));
            if is_level && !labels.iter().any(|l| l == level) {
                labels.push(level.to_string());
            }
        }
    }
    let order = |l: &str| match l {
        "all" => usize::MAX - 1,
        "many" => usize::MAX,
        _ => l
            .strip_prefix('c')
            .and_then(|k| k.parse::<usize>().ok())
            .unwrap_or(usize::MAX),
    };
    labels.sort_by_key(|l| order(l));
    labels
        .into_iter()
        .filter_map(|l| harness_median(hs, &format!("{prefix}.{l}")).map(|v| (l, v)))
        .collect()
}

/// The level with the lowest time per interface.
fn fastest(levels: &[(String, f64)]) -> (Option<String>, Option<f64>) {
    levels
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or((None, None), |(l, v)| (Some(l.clone()), Some(*v)))
}

fn level_name(level: &Option<String>) -> String {
    match level.as_deref() {
        None => "not measured".into(),
        Some("all") => "all N in flight".into(),
        Some("many") => "all N in one Plumber::attach_many".into(),
        Some(l) => format!("{} in flight", l.trim_start_matches('c')),
    }
}

/// The peers' per-interface figures the throughput rows are divided by / into.
struct Floors {
    direct: Option<f64>,
    moved: Option<f64>,
    netavark_total: Option<f64>,
    cni_total: Option<f64>,
}

/// Every concurrency level of the throughput scenarios (P1B, P2B) with its ratios.
fn render_levels(o: &mut String, h: &[Value], floors: &Floors) {
    let p1 = batch_levels(h, "P1.batch");
    let p2 = batch_levels(h, "P2.batch");
    let p4 = batch_levels(h, "P4.detach");
    let mut labels: Vec<&String> = Vec::new();
    for (l, _) in p1.iter().chain(&p2).chain(&p4) {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    if labels.is_empty() {
        return;
    }
    let get = |v: &[(String, f64)], l: &str| v.iter().find(|(x, _)| x == l).map(|(_, y)| *y);
    let _ = writeln!(
        o,
        "\n### Throughput by concurrency: N operations through one Plumber, wall time / N (ms per interface)\n"
    );
    let _ = writeln!(o, "| in flight | P1 attach+gw | P1 ÷ ip-batch-direct floor/N | netavark-internal total/N ÷ P1 | cni-bridge total/N ÷ P1 | P1 latency of each (median) | P1 process CPU/N (user) | P2 create+attach+gw | P2 ÷ ip-batch floor/N | P2 process CPU/N | P4 detach |");
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|");
    for l in labels {
        let a = get(&p1, l);
        let b = get(&p2, l);
        let p1_cpu = format!(
            "{} ({})",
            f(harness_median(h, &format!("P1.batch.{l}.cpu"))),
            f(harness_median(h, &format!("P1.batch.{l}.cpu-user")))
        );
        let _ = writeln!(
            o,
            "| {} | {} | {}× | {}× | {}× | {} | {} | {} | {}× | {} | {} |",
            level_name(&Some(l.clone())),
            f(a),
            f(ratio(a, floors.direct)),
            f(ratio(floors.netavark_total, a)),
            f(ratio(floors.cni_total, a)),
            f(harness_median(h, &format!("P1.batch.{l}.latency"))),
            p1_cpu,
            f(b),
            f(ratio(b, floors.moved)),
            f(harness_median(h, &format!("P2.batch.{l}.cpu"))),
            f(get(&p4, l)),
        );
    }
}

pub fn render(inp: &Inputs) -> String {
    let mut o = String::new();
    let h = &inp.harness[..];
    let peers = inp.raw_csv.as_deref().map(peers).unwrap_or_default();
    let hm = |id: &str| harness_median(h, id);

    if !peers.is_empty() {
        let _ = writeln!(
            o,
            "### Peer tools (attach-bench.sh, same run), ms per interface\n"
        );
        let _ = writeln!(o, "| tool | attach median | attach p90 | attach total/N | netlink floor/N (total − exec of the N `ip -n` processes) | detach median | detach total/N |");
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        for (t, p) in &peers {
            let _ = writeln!(
                o,
                "| {t} | {} | {} | {} | {} | {} | {} |",
                f(p.attach_median),
                f(p.attach_p90),
                f(p.attach_total_per_if),
                f(p.floor_per_if),
                f(p.detach_median),
                f(p.detach_total_per_if)
            );
        }
        let _ = writeln!(o);
    }

    let direct_floor = peers.get("ip-batch-direct").and_then(|p| p.floor_per_if);
    let direct_total = peers
        .get("ip-batch-direct")
        .and_then(|p| p.attach_total_per_if);
    let direct_detach = peers
        .get("ip-batch-direct")
        .and_then(|p| p.detach_total_per_if);
    let move_floor = peers.get("ip-batch").and_then(|p| p.floor_per_if);
    let nvi = peers.get("netavark-internal").and_then(|p| p.attach_median);
    let nvi_total = peers
        .get("netavark-internal")
        .and_then(|p| p.attach_total_per_if);
    let cni = peers.get("cni-bridge").and_then(|p| p.attach_median);
    let cni_total = peers.get("cni-bridge").and_then(|p| p.attach_total_per_if);
    let cli = peers.get(&inp.custom_name).and_then(|p| p.attach_median);
    let p1 = hm("P1.attach+gw");
    let p1a = hm("P1.attach");
    let p1_levels = batch_levels(h, "P1.batch");
    let p2_levels = batch_levels(h, "P2.batch");
    let p4_levels = batch_levels(h, "P4.detach");
    let (p1b_level, p1b) = fastest(&p1_levels);
    let (p2b_level, p2b) = fastest(&p2_levels);
    let (p4b_level, p4b) = fastest(&p4_levels);

    let mut t: Vec<Target> = Vec::new();
    let le = |v: Option<f64>, lim: f64| v.map(|x| x <= lim);
    let ge = |v: Option<f64>, lim: f64| v.map(|x| x >= lim);
    let r = ratio(p1, direct_floor);
    t.push(Target {
        id: "P1 latency",
        what: "in-process attach+gateways one at a time, median latency of one attach ÷ ip-batch-direct netlink floor/N (a throughput figure: not like for like)".into(),
        measured: r,
        shown: format!("{} ms / {} ms = {}×", f(p1), f(direct_floor), f(r)),
        goal: "≤ 1.0×",
        met: le(r, 1.0),
    });
    let r = ratio(p1b, direct_floor);
    t.push(Target {
        id: "P1 throughput",
        what: format!("in-process attach+gateways, N issued through one Plumber ({}, the fastest of the levels measured), wall time/N ÷ ip-batch-direct netlink floor/N (both throughput)", level_name(&p1b_level)),
        measured: r,
        shown: format!("{} ms / {} ms = {}×", f(p1b), f(direct_floor), f(r)),
        goal: "≤ 1.0×",
        met: le(r, 1.0),
    });
    let r = ratio(cli, direct_total);
    t.push(Target {
        id: "P1 (CLI)",
        what: "nsplumb CLI attach (one process per attach) / ip-batch-direct total per interface (processes included)".into(),
        measured: r,
        shown: format!("{} ms / {} ms = {}×", f(cli), f(direct_total), f(r)),
        goal: "(information)",
        met: None,
    });
    let r = ratio(nvi, p1);
    t.push(Target {
        id: "P1 vs netavark latency",
        what: "netavark-internal setup median ÷ in-process attach+gateways median (both one at a time: latency)".into(),
        measured: r,
        shown: format!("{} ms / {} ms = {}× faster", f(nvi), f(p1), f(r)),
        goal: "≥ 5×",
        met: ge(r, 5.0),
    });
    let r = ratio(nvi_total, p1b);
    t.push(Target {
        id: "P1 vs netavark throughput",
        what: format!("netavark-internal attach total/N (N setup processes one after another, as attach-bench runs them) ÷ in-process P1 batch wall time/N ({})", level_name(&p1b_level)),
        measured: r,
        shown: format!("{} ms / {} ms = {}× faster", f(nvi_total), f(p1b), f(r)),
        goal: "≥ 5×",
        met: ge(r, 5.0),
    });
    let r = ratio(nvi, cli);
    t.push(Target {
        id: "P1 vs netavark (CLI)",
        what: "netavark-internal setup / nsplumb CLI attach (both one process per attach)".into(),
        measured: r,
        shown: format!("{} ms / {} ms = {}× faster", f(nvi), f(cli), f(r)),
        goal: "≥ 5×",
        met: ge(r, 5.0),
    });
    let r = ratio(cni, p1);
    t.push(Target {
        id: "P1 vs cni latency",
        what: "cni-bridge ADD median ÷ in-process attach+gateways median (both one at a time: latency)".into(),
        measured: r,
        shown: format!("{} ms / {} ms = {}× faster", f(cni), f(p1), f(r)),
        goal: "≥ 10×",
        met: ge(r, 10.0),
    });
    let r = ratio(cni_total, p1b);
    t.push(Target {
        id: "P1 vs cni throughput",
        what: format!("cni-bridge attach total/N (N ADD processes one after another, as attach-bench runs them) ÷ in-process P1 batch wall time/N ({})", level_name(&p1b_level)),
        measured: r,
        shown: format!("{} ms / {} ms = {}× faster", f(cni_total), f(p1b), f(r)),
        goal: "≥ 10×",
        met: ge(r, 10.0),
    });
    let r = ratio(cni, cli);
    t.push(Target {
        id: "P1 vs cni (CLI)",
        what: "cni-bridge ADD / nsplumb CLI attach (both one process per attach)".into(),
        measured: r,
        shown: format!("{} ms / {} ms = {}× faster", f(cni), f(cli), f(r)),
        goal: "≥ 10×",
        met: ge(r, 10.0),
    });
    let p2 = hm("P2.create+attach+gw");
    let r = ratio(p2, move_floor);
    t.push(Target {
        id: "P2 latency",
        what: "veth creation + move-path attach + gateways one at a time, median latency ÷ ip-batch (move) netlink floor/N (a throughput figure: not like for like)".into(),
        measured: r,
        shown: format!("{} ms / {} ms = {}×", f(p2), f(move_floor), f(r)),
        goal: "≤ 1.1×",
        met: le(r, 1.1),
    });
    let r = ratio(p2b, move_floor);
    t.push(Target {
        id: "P2 throughput",
        what: format!("N veth creations, then N move-path attaches + gateways, through one Plumber ({}, the fastest of the levels measured), wall time/N ÷ ip-batch (move) netlink floor/N (both throughput)", level_name(&p2b_level)),
        measured: r,
        shown: format!("{} ms / {} ms = {}×", f(p2b), f(move_floor), f(r)),
        goal: "≤ 1.1×",
        met: le(r, 1.1),
    });
    let p3 = find_number(&inp.texts, "P3 first ARP on bridge", "median");
    t.push(Target {
        id: "P3",
        what: "first ARP on the bridge after attach start (tests/kernel/benches/first_arp.rs)"
            .into(),
        measured: p3,
        shown: format!("{} ms", f(p3)),
        goal: "≤ 5 ms",
        met: le(p3, 5.0),
    });
    let (d1, db) = (hm("P4.detach"), hm("P4.batch"));
    let r = ratio(d1, db);
    t.push(Target {
        id: "P4",
        what: "Plumber::detach one by one / Plumber::detach_many (one kernel batch), per interface"
            .into(),
        measured: r,
        shown: format!("{} ms / {} ms = {}×", f(d1), f(db), f(r)),
        goal: "≥ 5×",
        met: ge(r, 5.0),
    });
    let (opts_on, opts_off) = (hm("P1opts.on"), hm("P1opts.off"));
    let r = ratio(opts_on, opts_off);
    t.push(Target {
        id: "P1 options",
        what: "P1 attach with MTU, hairpin and isolated port (SPEC L1, L2, L4) / without, interleaved in one run".into(),
        measured: r,
        shown: format!("{} ms / {} ms = {}×", f(opts_on), f(opts_off), f(r)),
        goal: "≤ 1.15×",
        met: le(r, 1.15),
    });
    let r = ratio(p4b, direct_detach);
    t.push(Target {
        id: "P4 throughput",
        what: format!("Plumber::detach of N, through one Plumber ({}, the fastest of the levels measured), wall time/N ÷ ip-batch-direct detach total/N (one `ip -batch` of link deletes, process included)", level_name(&p4b_level)),
        measured: r,
        shown: format!("{} ms / {} ms = {}×", f(p4b), f(direct_detach), f(r)),
        goal: "(information)",
        met: None,
    });
    let p5 = harness_scalar(h, "P5.lifecycles_per_s")
        .or_else(|| find_number(&inp.texts, "P5 sim lifecycles/s", ":"));
    let p5b = find_number(&inp.texts, "P5 sim lifecycles/s", ":");
    t.push(Target {
        id: "P5",
        what: "simulated attach+detach lifecycles per second, one core (harness; tests/benches/lifecycle.rs in brackets)".into(),
        measured: p5,
        shown: format!(
            "{}/s{}",
            p5.map_or("n/a".into(), |x| format!("{x:.0}")),
            p5b.map_or(String::new(), |x| format!(" [{x:.0}/s]"))
        ),
        goal: "≥ 100,000/s",
        met: ge(p5, 100_000.0),
    });
    // P6 against the floor (bench/p6-floor.sh): growth from N=10 to N=1000 of the mean cost
    // per interface, nsplumb's (all its attaches) over the kernel's (`ip -batch`, processes
    // subtracted), both means so that they compare like for like.
    for scope in ["across", "one"] {
        let hmean = |id: &str| harness_field(h, id, "mean_ms");
        let (a, b) = (
            hmean(&format!("P6.{scope}.N1000")),
            hmean(&format!("P6.{scope}.N10")),
        );
        let growth = ratio(a, b);
        let floor = |n: u32| {
            peers
                .get(&format!("p6-floor-{scope}-N{n}"))
                .and_then(|p| p.floor_per_if)
        };
        let (fa, fb) = (floor(1000), floor(10));
        let floor_growth = ratio(fa, fb);
        let r = ratio(growth, floor_growth);
        t.push(Target {
            id: if scope == "across" {
                "P6 across"
            } else {
                "P6 one ns"
            },
            what: format!(
                "growth of the mean attach cost from N=10 to N=1000 ({}), nsplumb's ÷ the floor's (`ip -batch`, bench/p6-floor.sh, same run)",
                if scope == "across" {
                    "one interface per namespace"
                } else {
                    "all in one namespace"
                }
            ),
            measured: r,
            shown: format!(
                "({} / {} ms = {}×) ÷ ({} / {} ms = {}×) = {}×",
                f(a),
                f(b),
                f(growth),
                f(fa),
                f(fb),
                f(floor_growth),
                f(r)
            ),
            goal: "≤ 1.1×",
            met: le(r, 1.1),
        });
    }
    let p7 = find_number(&inp.texts, "tui frame time", "median");
    t.push(Target {
        id: "P7",
        what: "TUI frame time, 1,000 interfaces (tui/benches/frame.rs)".into(),
        measured: p7,
        shown: format!("{} ms", f(p7)),
        goal: "≤ 5 ms",
        met: le(p7, 5.0),
    });

    let _ = writeln!(o, "### Targets (medians from one run)\n");
    let _ = writeln!(o, "| target | comparison | measured | goal | status |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for x in &t {
        let status = match x.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None if x.measured.is_none() => "not measured",
            None => "-",
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            x.id, x.what, x.shown, x.goal, status
        );
    }
    render_levels(
        &mut o,
        h,
        &Floors {
            direct: direct_floor,
            moved: move_floor,
            netavark_total: nvi_total,
            cni_total,
        },
    );
    if let Some(a) = p1a {
        let _ = writeln!(
            o,
            "\nP1 attach alone (no gateways): {a:.3} ms median per interface."
        );
    }
    o
}
