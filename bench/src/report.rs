//! The markdown the benchmark prints: a header saying when, where and what was run, one
//! table per scenario, the idle-memory table and where each target stands.

use std::fmt::Write;

use crate::scenario::{EchoResult, IdleResult, Sample, Settings};
use crate::servers::{Impl, Protocol};
use crate::stats::{Summary, paired_ratios};

/// Where and how a run was made.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// `quick` or `full`.
    pub mode: &'static str,
    /// When it ran (UTC).
    pub date: String,
    /// The CPU and core count.
    pub machine: String,
    /// The commit measured.
    pub commit: String,
    /// The 1, 5 and 15 minute load averages when the run started (how busy the machine
    /// was).
    pub load: String,
    /// The rounds and timings.
    pub settings: Settings,
}

/// The header above the tables.
pub fn header(info: &RunInfo) -> String {
    let settings = &info.settings;
    let mut out = String::new();
    let _ = writeln!(out, "## lori-bench ({} run)\n", info.mode);
    let _ = writeln!(out, "- date: {}", info.date);
    let _ = writeln!(out, "- machine: {}", info.machine);
    let _ = writeln!(out, "- commit: {}", info.commit);
    let _ = writeln!(out, "- load average at the start: {}", info.load);
    let _ = writeln!(
        out,
        "- echo scenarios: {} rounds, {} ms warm-up + {} ms measured per run; idle memory: \
         {} round(s) of {} connections",
        settings.rounds,
        settings.timing.warmup.as_millis(),
        settings.timing.window.as_millis(),
        settings.idle_rounds,
        settings.idle_connections,
    );
    let _ = writeln!(
        out,
        "- scale and compressed WebSocket scenarios: {} round(s), {} ms warm-up + {} ms \
         measured per run",
        settings.reduced_rounds,
        settings.reduced_timing.warmup.as_millis(),
        settings.reduced_timing.window.as_millis(),
    );
    let _ = writeln!(
        out,
        "- figures: median [min–max] over rounds; ratios are paired per round against the \
         same-runtime hand-written server (× name), lori's WebSocket against both WebSocket \
         libraries; \"of best\" is the median throughput over \
         the best hand-written server's median in that scenario"
    );
    out
}

/// Digits after the point for a figure of this size: three significant digits or more.
fn decimals_for(value: f64) -> usize {
    match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    }
}

/// A summary with digits chosen from its median, or `–` for none.
fn show(summary: Option<Summary>) -> String {
    match summary {
        Some(summary) => summary.display(decimals_for(summary.median)).to_string(),
        None => "–".to_owned(),
    }
}

/// A ratio summary with two decimals and the name it is relative to.
fn show_ratio(ratios: &[f64], against: &str) -> String {
    match Summary::of(ratios) {
        Some(summary) => format!("{} × {against}", summary.display(2)),
        None => "–".to_owned(),
    }
}

/// One field of every round's sample.
fn field(samples: &[Option<Sample>], pick: fn(&Sample) -> f64) -> Vec<Option<f64>> {
    samples
        .iter()
        .map(|sample| sample.as_ref().map(pick))
        .collect()
}

/// The present values of `values`.
fn present(values: &[Option<f64>]) -> Vec<f64> {
    values.iter().flatten().copied().collect()
}

/// The rows a scenario entry's ratios are taken against: the first listing of its own
/// implementation for the self-vs-self row, of each of its baselines for a lori server
/// (both WebSocket libraries for lori's WebSocket), none for a baseline.
fn baseline_indices(result: &EchoResult, index: usize) -> Vec<usize> {
    let entry = result.scenario.entries[index];
    let against: &[Impl] = if entry.again {
        std::slice::from_ref(&entry.implementation)
    } else if entry.implementation.is_baseline() {
        &[]
    } else {
        entry.implementation.baselines()
    };
    against
        .iter()
        .filter_map(|implementation| first_listing(result, *implementation))
        .collect()
}

/// The row of the first listing of `implementation`.
fn first_listing(result: &EchoResult, implementation: Impl) -> Option<usize> {
    result
        .scenario
        .entries
        .iter()
        .position(|entry| entry.implementation == implementation && !entry.again)
}

/// The median throughput of the best hand-written server in the scenario.
fn best_baseline_throughput(result: &EchoResult) -> Option<f64> {
    result
        .scenario
        .entries
        .iter()
        .zip(&result.samples)
        .filter(|(entry, _)| entry.implementation.is_baseline() && !entry.again)
        .filter_map(|(_, samples)| {
            Summary::of(&present(&field(samples, |s| s.throughput))).map(|s| s.median)
        })
        .reduce(f64::max)
}

/// One scenario's table.
pub fn echo_table(result: &EchoResult) -> String {
    let scenario = &result.scenario;
    let unit = scenario.unit().name();
    let best = best_baseline_throughput(result);
    let wire = scenario.is_deflate();
    let mut out = String::new();
    let _ = writeln!(out, "### {}: {}\n", scenario.name, scenario.title);
    for note in &result.notes {
        let _ = writeln!(out, "Note: {note}.\n");
    }
    let _ = write!(
        out,
        "| server | server CPU µs/{unit} | CPU ratio | {unit}/s | throughput ratio | of best |"
    );
    if wire {
        // Measured at the client's socket: frame headers, masks and all.
        let _ = write!(out, " wire B/{unit} sent | wire B/{unit} received |");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|{}",
        if wire { "---|---|" } else { "" }
    );
    for (index, entry) in scenario.entries.iter().enumerate() {
        let samples = &result.samples[index];
        let cpu = field(samples, |s| s.cpu_per_unit);
        let throughput = field(samples, |s| s.throughput);
        let throughput_summary = Summary::of(&present(&throughput));
        let bases = baseline_indices(result, index);
        let (cpu_ratio, throughput_ratio) = if bases.is_empty() {
            // A lori server whose baselines were left out has no ratio.
            let word = if entry.implementation.is_baseline() {
                "baseline"
            } else {
                "–"
            };
            (word.to_owned(), word.to_owned())
        } else {
            let ratios = |pick: fn(&Sample) -> f64, values: &[Option<f64>]| {
                bases
                    .iter()
                    .map(|&base| {
                        show_ratio(
                            &paired_ratios(values, &field(&result.samples[base], pick)),
                            scenario.entries[base].implementation.name(),
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            (
                ratios(|s| s.cpu_per_unit, &cpu),
                ratios(|s| s.throughput, &throughput),
            )
        };
        let of_best = match (throughput_summary, best) {
            (Some(summary), Some(best)) if best > 0.0 => format!("{:.2}", summary.median / best),
            _ => "–".to_owned(),
        };
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            entry.label(),
            show(Summary::of(&present(&cpu))),
            cpu_ratio,
            show(throughput_summary),
            throughput_ratio,
            of_best,
        );
        if wire {
            let _ = write!(
                out,
                " {} | {} |",
                show(Summary::of(&present(&field(samples, |s| s.wire_sent)))),
                show(Summary::of(&present(&field(samples, |s| s.wire_received)))),
            );
        }
        let _ = writeln!(out);
    }
    failures(&mut out, &result.failures);
    out
}

/// Lists failed runs under a table.
fn failures(out: &mut String, failures: &[String]) {
    if !failures.is_empty() {
        let _ = writeln!(out, "\nFailed runs (left out of the figures):\n");
        for failure in failures {
            let _ = writeln!(out, "- {failure}");
        }
    }
    out.push('\n');
}

/// The idle-memory table.
pub fn idle_table(result: &IdleResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### idle: server RSS growth per idle connection ({} connections, each echoed 64 B once)\n",
        result.connections
    );
    if let Some(note) = &result.note {
        let _ = writeln!(out, "Note: {note}.\n");
    }
    let _ = writeln!(out, "| server | bytes per connection | ratio |");
    let _ = writeln!(out, "|---|---|---|");
    for (implementation, samples) in result.entries.iter().zip(&result.samples) {
        let ratio = if implementation.is_baseline() {
            "baseline".to_owned()
        } else {
            let base = implementation.baseline();
            match result.of(base) {
                Some(base_samples) => {
                    show_ratio(&paired_ratios(samples, base_samples), base.name())
                }
                None => "–".to_owned(),
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            implementation.name(),
            show(Summary::of(&present(samples))),
            ratio
        );
    }
    failures(&mut out, &result.failures);
    out
}

/// Which way a target bounds its figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// The figure must not exceed the limit.
    AtMost,
    /// The figure must reach the limit.
    AtLeast,
}

/// One target checked against one scenario.
struct Check {
    target: String,
    scenario: String,
    figure: Option<Summary>,
    bound: Bound,
    limit: f64,
    noise: String,
}

impl Check {
    fn status(&self) -> &'static str {
        match (self.figure, self.bound) {
            (None, _) => "not measured",
            (Some(figure), Bound::AtMost) if figure.median <= self.limit => "met (median)",
            (Some(figure), Bound::AtLeast) if figure.median >= self.limit => "met (median)",
            _ => "missed",
        }
    }
}

/// The spread of a scenario's self-vs-self CPU ratios, as `min–max`.
fn noise(result: &EchoResult) -> String {
    let Some(index) = result.scenario.entries.iter().position(|entry| entry.again) else {
        return "–".to_owned();
    };
    let Some(&base) = baseline_indices(result, index).first() else {
        return "–".to_owned();
    };
    let ratios = paired_ratios(
        &field(&result.samples[index], |s| s.cpu_per_unit),
        &field(&result.samples[base], |s| s.cpu_per_unit),
    );
    match Summary::of(&ratios) {
        Some(summary) => format!("{:.2}–{:.2}", summary.min, summary.max),
        None => "–".to_owned(),
    }
}

/// Paired ratios of one field between two implementations of a scenario.
fn ratio_between(
    result: &EchoResult,
    numerator: Impl,
    denominator: Impl,
    pick: fn(&Sample) -> f64,
) -> Option<Summary> {
    let numerator = result.of(numerator)?;
    let denominator = result.of(denominator)?;
    Summary::of(&paired_ratios(
        &field(numerator, pick),
        &field(denominator, pick),
    ))
}

/// The CPU targets of the issue, as (lori server, baseline, limit, which scenarios).
const CPU_TARGETS: [(Impl, Impl, f64, &[&str]); 9] = [
    (Impl::LoriMio, Impl::Mio, 1.00, &["bulk-1", "bulk-50"]),
    (Impl::LoriMio, Impl::Tokio, 0.90, &["rr-1", "rr-100"]),
    (Impl::LoriTokioCt, Impl::Tokio, 1.00, &[]),
    (Impl::LoriTokioMt, Impl::TokioMt, 1.00, &[]),
    (Impl::LoriMioTls, Impl::TokioRustls, 1.05, &[]),
    (Impl::LoriTokioTls, Impl::TokioRustls, 1.05, &[]),
    (
        Impl::LoriBlocking,
        Impl::StdThreads,
        1.10,
        &["rr-1", "bulk-1"],
    ),
    // Issue 17: the scale scenario, N threads against the same-runtime hand-written server.
    (Impl::LoriMioN, Impl::MioN, 1.05, &[]),
    (Impl::LoriTokioMtN, Impl::TokioMtN, 1.05, &[]),
];

/// The WebSocket targets: lori's WebSocket on each driver against the cheaper (by median
/// server CPU per message) of the WebSocket libraries, in every WebSocket scenario.
const WS_TARGETS: [(Impl, f64); 2] = [(Impl::LoriMioWs, 1.00), (Impl::LoriTokioWs, 1.00)];

/// The baseline of `lori` with the lowest median server CPU per unit in `result`.
fn cheapest_baseline(result: &EchoResult, lori: Impl) -> Option<Impl> {
    lori.baselines()
        .iter()
        .filter_map(|&baseline| {
            let samples = result.of(baseline)?;
            let median = Summary::of(&present(&field(samples, |s| s.cpu_per_unit)))?.median;
            Some((baseline, median))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(baseline, _)| baseline)
}

/// The idle-memory target, bytes per connection in user space.
const IDLE_LIMIT: f64 = 2048.0;

/// The throughput target, as a fraction of the same-runtime baseline.
const THROUGHPUT_LIMIT: f64 = 0.97;

/// The scale scenario's throughput target (issue 17).
const SCALE_THROUGHPUT_LIMIT: f64 = 0.95;

/// Every target against every scenario it applies to (an empty scenario list in
/// [`CPU_TARGETS`] means every scenario with both servers).
pub fn targets_table(echo: &[EchoResult], idle: Option<&IdleResult>) -> String {
    let mut checks = Vec::new();
    for result in echo {
        let name = result.scenario.name;
        for (lori, baseline, limit, only) in CPU_TARGETS {
            let applies = only.is_empty() || only.contains(&name);
            if !applies || result.of(lori).is_none() || result.of(baseline).is_none() {
                continue;
            }
            checks.push(Check {
                target: format!("{} CPU ≤ {limit:.2} × {}", lori.name(), baseline.name()),
                scenario: name.to_owned(),
                figure: ratio_between(result, lori, baseline, |s| s.cpu_per_unit),
                bound: Bound::AtMost,
                limit,
                noise: noise(result),
            });
        }
        for (lori, limit) in WS_TARGETS {
            if result.of(lori).is_none() {
                continue;
            }
            let names: Vec<&str> = lori.baselines().iter().map(|b| b.name()).collect();
            let cheapest = cheapest_baseline(result, lori);
            checks.push(Check {
                target: format!(
                    "{} CPU ≤ {limit:.2} × the cheaper of {} ({})",
                    lori.name(),
                    names.join(" and "),
                    cheapest.map_or("none measured", Impl::name)
                ),
                scenario: name.to_owned(),
                figure: cheapest
                    .and_then(|base| ratio_between(result, lori, base, |s| s.cpu_per_unit)),
                bound: Bound::AtMost,
                limit,
                noise: noise(result),
            });
        }
        for entry in &result.scenario.entries {
            let lori = entry.implementation;
            // The WebSocket scenarios have no throughput target.
            if lori.is_baseline()
                || matches!(
                    lori.protocol(),
                    Protocol::WebSocket | Protocol::WebSocketDeflate
                )
            {
                continue;
            }
            let limit = if lori.is_scaled() {
                SCALE_THROUGHPUT_LIMIT
            } else {
                THROUGHPUT_LIMIT
            };
            checks.push(Check {
                target: format!(
                    "{} throughput ≥ {limit:.2} × {}",
                    lori.name(),
                    lori.baseline().name()
                ),
                scenario: name.to_owned(),
                figure: ratio_between(result, lori, lori.baseline(), |s| s.throughput),
                bound: Bound::AtLeast,
                limit,
                noise: noise(result),
            });
        }
    }
    if let Some(idle) = idle {
        for implementation in &idle.entries {
            if implementation.is_baseline() {
                continue;
            }
            checks.push(Check {
                target: format!("{} idle ≤ 2 KiB per connection", implementation.name()),
                scenario: "idle".to_owned(),
                figure: idle
                    .of(*implementation)
                    .and_then(|samples| Summary::of(&present(samples))),
                bound: Bound::AtMost,
                limit: IDLE_LIMIT,
                noise: "–".to_owned(),
            });
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "### targets\n");
    let _ = writeln!(
        out,
        "| target | scenario | figure | self-vs-self CPU | status |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for check in &checks {
        let figure = match check.figure {
            Some(summary) if check.limit > 10.0 => summary.display(0).to_string(),
            Some(summary) => summary.display(2).to_string(),
            None => "–".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            check.target,
            check.scenario,
            figure,
            check.noise,
            check.status()
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Workload;
    use crate::scenario::{Entry, Scenario};

    fn sample(cpu_per_unit: f64, throughput: f64) -> Option<Sample> {
        Some(Sample {
            cpu_per_unit,
            throughput,
            wire_sent: 0.0,
            wire_received: 0.0,
        })
    }

    fn entry(implementation: Impl, again: bool) -> Entry {
        Entry {
            implementation,
            again,
        }
    }

    fn result() -> EchoResult {
        EchoResult {
            scenario: Scenario {
                name: "bulk-1",
                title: "test",
                workload: Workload::Bulk { connections: 1 },
                entries: vec![
                    entry(Impl::Mio, false),
                    entry(Impl::LoriMio, false),
                    entry(Impl::Mio, true),
                ],
                reduced: false,
            },
            samples: vec![
                vec![sample(100.0, 1000.0), sample(200.0, 2000.0)],
                vec![sample(110.0, 900.0), sample(180.0, 2000.0)],
                vec![sample(100.0, 1000.0), None],
            ],
            failures: vec!["bulk-1 mio (again) round 2: stalled".to_owned()],
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_scenario_table_pairs_ratios_by_round() {
        let table = echo_table(&result());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "### bulk-1: test");
        assert_eq!(
            lines[4],
            "| mio | 150 [100–200] | baseline | 1500 [1000–2000] | baseline | 1.00 |"
        );
        // CPU ratios 1.10 and 0.90; throughput ratios 0.90 and 1.00; of best 1450/1500.
        assert_eq!(
            lines[5],
            "| lori-mio | 145 [110–180] | 1.00 [0.90–1.10] × mio | 1450 [900–2000] | \
             0.95 [0.90–1.00] × mio | 0.97 |"
        );
        assert_eq!(
            lines[6],
            "| mio (again) | 100 [100–100] | 1.00 [1.00–1.00] × mio | 1000 [1000–1000] | \
             1.00 [1.00–1.00] × mio | 0.67 |"
        );
        assert!(table.contains("- bulk-1 mio (again) round 2: stalled"));
    }

    #[test]
    fn targets_are_judged_by_the_median() {
        let table = targets_table(&[result()], None);
        assert!(table.contains(
            "| lori-mio CPU ≤ 1.00 × mio | bulk-1 | 1.00 [0.90–1.10] | 1.00–1.00 | met (median) |"
        ));
        assert!(table.contains(
            "| lori-mio throughput ≥ 0.97 × mio | bulk-1 | 0.95 [0.90–1.00] | 1.00–1.00 | missed |"
        ));
        assert!(!table.contains("rr-1"));
    }

    fn ws_result() -> EchoResult {
        EchoResult {
            scenario: Scenario {
                name: "ws-small",
                title: "test",
                workload: Workload::WsRoundTrips {
                    connections: 1,
                    size: 64,
                    deflate: false,
                },
                entries: vec![
                    entry(Impl::TokioTungstenite, false),
                    entry(Impl::Fastwebsockets, false),
                    entry(Impl::LoriMioWs, false),
                    entry(Impl::Fastwebsockets, true),
                ],
                reduced: false,
            },
            samples: vec![
                vec![sample(4.0, 100.0), sample(4.0, 100.0)],
                vec![sample(5.0, 100.0), sample(5.0, 100.0)],
                vec![sample(4.4, 100.0), sample(4.4, 100.0)],
                vec![sample(5.0, 100.0), sample(5.0, 100.0)],
            ],
            failures: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn lori_websocket_is_compared_with_both_libraries_and_judged_by_the_cheaper() {
        let table = echo_table(&ws_result());
        assert!(table.contains(
            "| lori-mio-ws | 4.40 [4.40–4.40] | 0.88 [0.88–0.88] × fastwebsockets; \
             1.10 [1.10–1.10] × tokio-tungstenite |"
        ));
        assert!(table.contains(
            "| fastwebsockets (again) | 5.00 [5.00–5.00] | 1.00 [1.00–1.00] × fastwebsockets |"
        ));
        // tokio-tungstenite used less CPU here, so the target is read against it.
        let targets = targets_table(&[ws_result()], None);
        assert!(targets.contains(
            "| lori-mio-ws CPU ≤ 1.00 × the cheaper of fastwebsockets and tokio-tungstenite \
             (tokio-tungstenite) | ws-small | 1.10 [1.10–1.10] | 1.00–1.00 | missed |"
        ));
        assert!(!targets.contains("throughput"));
        assert!(!targets.contains("lori-tokio-ws"));
    }

    #[test]
    fn the_compressed_tables_show_the_wire_and_a_missing_baseline_leaves_no_ratio() {
        let with_wire = |cpu: f64| {
            Some(Sample {
                cpu_per_unit: cpu,
                throughput: 100.0,
                wire_sent: 300.0,
                wire_received: 250.0,
            })
        };
        let result = EchoResult {
            scenario: Scenario {
                name: "ws-deflate-1k",
                title: "test",
                workload: Workload::WsRoundTrips {
                    connections: 1,
                    size: 1024,
                    deflate: true,
                },
                entries: vec![entry(Impl::LoriMioWsDeflate, false)],
                reduced: true,
            },
            samples: vec![vec![with_wire(20.0)]],
            failures: Vec::new(),
            notes: vec!["node-ws-deflate left out: no node".to_owned()],
        };
        let table = echo_table(&result);
        assert!(table.contains("Note: node-ws-deflate left out: no node."));
        assert!(table.contains("| wire B/msg sent | wire B/msg received |"));
        assert!(table.contains(
            "| lori-mio-ws-deflate | 20.0 [20.0–20.0] | – | 100 [100–100] | – | – | \
             300 [300–300] | 250 [250–250] |"
        ));
        assert!(!targets_table(&[result], None).contains("lori-mio-ws-deflate"));
    }

    #[test]
    fn the_scale_targets_are_5_percent() {
        let result = EchoResult {
            scenario: Scenario {
                name: "scale-rr",
                title: "test",
                workload: Workload::RoundTrips { connections: 400 },
                entries: vec![
                    entry(Impl::MioN, false),
                    entry(Impl::LoriMioN, false),
                    entry(Impl::MioN, true),
                ],
                reduced: true,
            },
            samples: vec![
                vec![sample(10.0, 1000.0)],
                vec![sample(10.4, 960.0)],
                vec![sample(10.0, 1000.0)],
            ],
            failures: Vec::new(),
            notes: Vec::new(),
        };
        let table = targets_table(&[result], None);
        assert!(table.contains(
            "| lori-mio-n CPU ≤ 1.05 × mio-n | scale-rr | 1.04 [1.04–1.04] | 1.00–1.00 | met (median) |"
        ));
        assert!(table.contains(
            "| lori-mio-n throughput ≥ 0.95 × mio-n | scale-rr | 0.96 [0.96–0.96] | 1.00–1.00 | met (median) |"
        ));
    }

    #[test]
    fn small_figures_keep_more_digits() {
        assert_eq!(decimals_for(1234.5), 0);
        assert_eq!(decimals_for(12.345), 1);
        assert_eq!(decimals_for(1.2345), 2);
        assert_eq!(show(None), "–");
    }
}
