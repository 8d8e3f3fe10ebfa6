//! Figures: median / p90 per interface, and the report they make up (table and JSON).

use nsplumb_tests::timed::OpStats;
use serde::Serialize;
use std::time::Duration;

/// One measured quantity: per-interface samples summarised.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Short id used by the reports and ratios, e.g. `P1.attach`.
    pub id: String,
    pub what: String,
    pub samples: usize,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

/// Nearest-rank percentile of sorted samples.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Figure {
    pub fn from_durations(id: &str, what: &str, samples: &[Duration]) -> Figure {
        let v: Vec<f64> = samples.iter().map(|d| ms(*d)).collect();
        Figure::from_ms(id, what, v)
    }

    pub fn from_ms(id: &str, what: &str, mut v: Vec<f64>) -> Figure {
        v.sort_by(|a, b| a.total_cmp(b));
        let mean = if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        };
        Figure {
            id: id.to_string(),
            what: what.to_string(),
            samples: v.len(),
            median_ms: median(&v),
            p90_ms: pct(&v, 0.9),
            mean_ms: mean,
            min_ms: v.first().copied().unwrap_or(f64::NAN),
            max_ms: v.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// A batch: one total over `count` interfaces, reported per interface.
    pub fn batch(id: &str, what: &str, total: Duration, count: usize) -> Figure {
        let per = ms(total) / count.max(1) as f64;
        Figure {
            id: id.to_string(),
            what: what.to_string(),
            samples: count,
            median_ms: per,
            p90_ms: per,
            mean_ms: per,
            min_ms: per,
            max_ms: per,
        }
    }
}

/// Backend calls of one scenario, per interface.
#[derive(Debug, Clone, Serialize)]
pub struct OpRow {
    pub op: String,
    pub calls_per_if: f64,
    pub ms_per_if: f64,
    pub us_per_call: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub scenario: String,
    pub interfaces: usize,
    /// Wall time per interface of the whole scenario loop.
    pub wall_ms_per_if: f64,
    /// Of which inside backend calls (kernel round trips + backend code).
    pub backend_ms_per_if: f64,
    pub ops: Vec<OpRow>,
}

impl Profile {
    pub fn new(scenario: &str, interfaces: usize, wall: Duration, stats: OpStats) -> Profile {
        let n = interfaces.max(1) as f64;
        let mut ops: Vec<OpRow> = stats
            .into_iter()
            .map(|(op, (calls, d))| OpRow {
                op: op.describe().to_string(),
                calls_per_if: calls as f64 / n,
                ms_per_if: ms(d) / n,
                us_per_call: d.as_secs_f64() * 1e6 / calls.max(1) as f64,
            })
            .collect();
        ops.sort_by(|a, b| b.ms_per_if.total_cmp(&a.ms_per_if));
        Profile {
            scenario: scenario.to_string(),
            interfaces,
            wall_ms_per_if: ms(wall) / n,
            backend_ms_per_if: ops.iter().map(|o| o.ms_per_if).sum(),
            ops,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub date_unix: u64,
    pub n: usize,
    pub kernel: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub loadavg_start: String,
    pub loadavg_end: String,
    pub figures: Vec<Figure>,
    /// Scalars that are not per-interface times (e.g. P5 lifecycles per second).
    pub scalars: Vec<(String, f64)>,
    pub profiles: Vec<Profile>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn push(&mut self, f: Figure) {
        eprintln!(
            "[nsplumb-bench] {:<28} median {:>8.3} ms  p90 {:>8.3} ms  (n={})",
            f.id, f.median_ms, f.p90_ms, f.samples
        );
        self.figures.push(f);
    }

    pub fn print_table(&self) {
        println!(
            "nsplumb-bench: N={}, {} CPUs, kernel {}, {}",
            self.n, self.cpus, self.kernel, self.cpu_model
        );
        println!(
            "load average at start: {}; at end: {}",
            self.loadavg_start, self.loadavg_end
        );
        println!();
        println!("| id | figure | samples | median ms/if | p90 ms/if | mean ms/if | min | max |");
        println!("|---|---|---|---|---|---|---|---|");
        for f in &self.figures {
            println!(
                "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                f.id, f.what, f.samples, f.median_ms, f.p90_ms, f.mean_ms, f.min_ms, f.max_ms
            );
        }
        for (k, v) in &self.scalars {
            println!("| {k} | | | {v:.0} | | | | |");
        }
        for p in &self.profiles {
            println!();
            println!(
                "profile {} ({} interfaces): wall {:.3} ms/if, inside backend calls {:.3} ms/if ({:.0}%)",
                p.scenario,
                p.interfaces,
                p.wall_ms_per_if,
                p.backend_ms_per_if,
                100.0 * p.backend_ms_per_if / p.wall_ms_per_if
            );
            for o in &p.ops {
                println!(
                    "    {:<16} {:>6.2} calls/if {:>9.3} ms/if {:>9.1} us/call",
                    o.op, o.calls_per_if, o.ms_per_if, o.us_per_call
                );
            }
        }
        for n in &self.notes {
            println!("note: {n}");
        }
    }
}
