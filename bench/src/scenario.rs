//! The scenarios and how they are run: fair rounds (every implementation once per round,
//! in the same order, a fresh server process each time), the hand-written baseline of each
//! runtime listed twice to show the noise.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_rustls::TlsConnector;

use crate::affinity::Layout;
use crate::certs::Identity;
use crate::child::ServerProcess;
use crate::client::{self, LoadError, Measurement, Target, Timing, Workload};
use crate::pattern::Pattern;
use crate::servers::Impl;

/// How long and how often to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Rounds of the echo scenarios.
    pub rounds: usize,
    /// Warm-up and window of one echo run.
    pub timing: Timing,
    /// Rounds of the reduced scenarios ([`Scenario::reduced`]: scale and the compressed
    /// WebSocket ones), which fit the run's time plan only with fewer rounds.
    pub reduced_rounds: usize,
    /// Warm-up and window of one run of a reduced scenario.
    pub reduced_timing: Timing,
    /// Rounds of the idle-memory scenario.
    pub idle_rounds: usize,
    /// Connections the idle-memory scenario opens.
    pub idle_connections: usize,
}

impl Settings {
    /// `--quick`: a few short rounds, for development (about 3 minutes in all); the
    /// reduced scenarios run once each, shorter, to show that they work.
    pub fn quick() -> Self {
        Self {
            rounds: 5,
            timing: Timing {
                warmup: Duration::from_millis(150),
                window: Duration::from_millis(400),
            },
            reduced_rounds: 1,
            reduced_timing: Timing {
                warmup: Duration::from_millis(100),
                window: Duration::from_millis(200),
            },
            idle_rounds: 1,
            idle_connections: 10_000,
        }
    }

    /// The full run, for BENCHMARKS.md; the reduced scenarios get 3 rounds (run them
    /// alone with `--only` and `--rounds` for more).
    pub fn full() -> Self {
        let timing = Timing {
            warmup: Duration::from_millis(500),
            window: Duration::from_secs(3),
        };
        Self {
            rounds: 10,
            timing,
            reduced_rounds: 3,
            reduced_timing: timing,
            idle_rounds: 3,
            idle_connections: 10_000,
        }
    }
}

/// What a scenario counts, and the unit it reports in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Echoed bytes, reported in MiB.
    Mebibyte,
    /// 64-byte round trips.
    RoundTrip,
    /// Connections made, echoed once and closed.
    Connection,
    /// WebSocket messages echoed.
    Message,
    /// HTTP requests answered.
    Request,
}

impl Unit {
    /// The unit's short name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Mebibyte => "MiB",
            Unit::RoundTrip => "rt",
            Unit::Connection => "conn",
            Unit::Message => "msg",
            Unit::Request => "req",
        }
    }

    /// How many counted things make one unit.
    fn scale(self) -> f64 {
        match self {
            Unit::Mebibyte => 1024.0 * 1024.0,
            Unit::RoundTrip | Unit::Connection | Unit::Message | Unit::Request => 1.0,
        }
    }
}

/// One implementation's place in a scenario's rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The server.
    pub implementation: Impl,
    /// The second listing of a baseline: the self-vs-self row.
    pub again: bool,
}

impl Entry {
    /// The entry's name in tables.
    pub fn label(&self) -> String {
        if self.again {
            format!("{} (again)", self.implementation.name())
        } else {
            self.implementation.name().to_owned()
        }
    }
}

/// An echo scenario: one workload against several servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Its short name (`bulk-1`, `rr-100`, ...).
    pub name: &'static str,
    /// What it does, in words.
    pub title: &'static str,
    /// The client's load.
    pub workload: Workload,
    /// The servers, in round order.
    pub entries: Vec<Entry>,
    /// Run with the settings' reduced rounds and timing (the scenarios added after the
    /// run's time plan was set: scale and the compressed WebSocket ones).
    pub reduced: bool,
}

impl Scenario {
    /// The rounds and timing `settings` give this scenario.
    pub fn plan(&self, settings: &Settings) -> (usize, Timing) {
        if self.reduced {
            (settings.reduced_rounds, settings.reduced_timing)
        } else {
            (settings.rounds, settings.timing)
        }
    }

    /// Whether its servers run on N threads with a multi-thread load (the scale scenario).
    pub fn is_scaled(&self) -> bool {
        self.entries
            .iter()
            .any(|entry| entry.implementation.is_scaled())
    }

    /// Whether the client offers permessage-deflate and sends JSON-like text.
    pub fn is_deflate(&self) -> bool {
        matches!(
            self.workload,
            Workload::WsRoundTrips { deflate: true, .. }
                | Workload::WsPipelined { deflate: true, .. }
        )
    }

    /// The unit the scenario reports in.
    pub fn unit(&self) -> Unit {
        match self.workload {
            Workload::Bulk { .. } => Unit::Mebibyte,
            Workload::RoundTrips { .. } => Unit::RoundTrip,
            Workload::ConnectRate { .. } => Unit::Connection,
            Workload::WsRoundTrips { .. } | Workload::WsPipelined { .. } => Unit::Message,
            Workload::HttpRequests { .. } => Unit::Request,
        }
    }
}

/// The entries of the plain-TCP scenarios: each lori server after its same-runtime baseline,
/// and hand tokio again.
fn plain_entries() -> Vec<Entry> {
    let mut entries: Vec<Entry> = [
        Impl::Mio,
        Impl::LoriMio,
        Impl::Tokio,
        Impl::LoriTokioCt,
        Impl::TokioMt,
        Impl::LoriTokioMt,
    ]
    .into_iter()
    .map(|implementation| Entry {
        implementation,
        again: false,
    })
    .collect();
    entries.push(Entry {
        implementation: Impl::Tokio,
        again: true,
    });
    entries
}

/// The entries of the single-connection plain scenarios: [`plain_entries`], then the
/// thread-per-connection servers (lori-blocking after its `std::net` baseline).
fn single_connection_entries() -> Vec<Entry> {
    let mut entries = plain_entries();
    entries.extend(
        [Impl::StdThreads, Impl::LoriBlocking].map(|implementation| Entry {
            implementation,
            again: false,
        }),
    );
    entries
}

/// The entries of the TLS scenario: tokio-rustls, lori TLS on both drivers, tokio-rustls
/// again.
fn tls_entries() -> Vec<Entry> {
    [
        (Impl::TokioRustls, false),
        (Impl::LoriMioTls, false),
        (Impl::LoriTokioTls, false),
        (Impl::TokioRustls, true),
    ]
    .into_iter()
    .map(|(implementation, again)| Entry {
        implementation,
        again,
    })
    .collect()
}

/// The entries of the WebSocket scenarios: both WebSocket libraries, lori's WebSocket on
/// both drivers, the cheaper library again.
fn ws_entries() -> Vec<Entry> {
    [
        (Impl::TokioTungstenite, false),
        (Impl::Fastwebsockets, false),
        (Impl::LoriMioWs, false),
        (Impl::LoriTokioWs, false),
        (Impl::WS_SELF_BASELINE, true),
    ]
    .into_iter()
    .map(|(implementation, again)| Entry {
        implementation,
        again,
    })
    .collect()
}

/// The entries of the scale scenario: each lori server on N threads after the hand-written
/// server on the same runtime with N threads, and hand tokio again.
fn scale_entries() -> Vec<Entry> {
    [
        (Impl::MioN, false),
        (Impl::LoriMioN, false),
        (Impl::TokioMtN, false),
        (Impl::LoriTokioMtN, false),
        (Impl::TokioMtN, true),
    ]
    .into_iter()
    .map(|(implementation, again)| Entry {
        implementation,
        again,
    })
    .collect()
}

/// The entries of the compressed WebSocket scenarios: Node's `ws` (left out of a run, with
/// a note, where Node or `ws` is missing), lori's WebSocket on both drivers, `ws` again.
fn ws_deflate_entries() -> Vec<Entry> {
    [
        (Impl::NodeWsDeflate, false),
        (Impl::LoriMioWsDeflate, false),
        (Impl::LoriTokioWsDeflate, false),
        (Impl::NodeWsDeflate, true),
    ]
    .into_iter()
    .map(|(implementation, again)| Entry {
        implementation,
        again,
    })
    .collect()
}

/// The names `--only scale` stands for.
pub const SCALE_SCENARIOS: [&str; 2] = ["scale-rr", "scale-bulk"];

/// The entries of the HTTP scenario: hyper over tokio's stream, hyper over lori's, hyper
/// over tokio's again.
fn http_entries() -> Vec<Entry> {
    [
        (Impl::Hyper, false),
        (Impl::LoriTokioHttp, false),
        (Impl::Hyper, true),
    ]
    .into_iter()
    .map(|(implementation, again)| Entry {
        implementation,
        again,
    })
    .collect()
}

/// Every echo scenario, in run order.
pub fn echo_scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "bulk-1",
            title: "bulk echo, 1 connection, 64 KiB writes",
            workload: Workload::Bulk { connections: 1 },
            entries: single_connection_entries(),
            reduced: false,
        },
        Scenario {
            name: "bulk-50",
            title: "bulk echo, 50 connections, 64 KiB writes",
            workload: Workload::Bulk { connections: 50 },
            entries: plain_entries(),
            reduced: false,
        },
        Scenario {
            name: "rr-1",
            title: "64 B round trips, 1 connection",
            workload: Workload::RoundTrips { connections: 1 },
            entries: single_connection_entries(),
            reduced: false,
        },
        Scenario {
            name: "rr-100",
            title: "64 B round trips, 100 connections",
            workload: Workload::RoundTrips { connections: 100 },
            entries: plain_entries(),
            reduced: false,
        },
        Scenario {
            name: "conn-rate",
            title: "connection rate: connect, one 64 B echo, close; 4 clients at once",
            workload: Workload::ConnectRate { workers: 4 },
            entries: plain_entries(),
            reduced: false,
        },
        Scenario {
            name: "tls-bulk-1",
            title: "TLS bulk echo, 1 connection, 64 KiB writes",
            workload: Workload::Bulk { connections: 1 },
            entries: tls_entries(),
            reduced: false,
        },
        Scenario {
            name: "ws-small",
            title: "WebSocket echo, 64 B binary messages, round trips, 100 connections",
            workload: Workload::WsRoundTrips {
                connections: 100,
                size: 64,
                deflate: false,
            },
            entries: ws_entries(),
            reduced: false,
        },
        Scenario {
            name: "ws-64k",
            title: "WebSocket echo, 64 KiB binary messages, 1 connection, 4 in flight",
            workload: Workload::WsPipelined {
                connections: 1,
                size: 64 * 1024,
                in_flight: 4,
                deflate: false,
            },
            entries: ws_entries(),
            reduced: false,
        },
        Scenario {
            name: "http-100",
            title: "HTTP/1.1 keep-alive GET / answered by hyper, 100 connections",
            workload: Workload::HttpRequests { connections: 100 },
            entries: http_entries(),
            reduced: false,
        },
        Scenario {
            name: "ws-deflate-1k",
            title: "WebSocket echo with permessage-deflate, 1 KiB JSON-like text messages, \
                    round trips, 100 connections",
            workload: Workload::WsRoundTrips {
                connections: 100,
                size: 1024,
                deflate: true,
            },
            entries: ws_deflate_entries(),
            reduced: true,
        },
        Scenario {
            name: "ws-deflate-64k",
            title: "WebSocket echo with permessage-deflate, 64 KiB JSON-like text messages, \
                    1 connection, 4 in flight",
            workload: Workload::WsPipelined {
                connections: 1,
                size: 64 * 1024,
                in_flight: 4,
                deflate: true,
            },
            entries: ws_deflate_entries(),
            reduced: true,
        },
        Scenario {
            name: "scale-rr",
            title: "scale: 64 B round trips, 400 connections, N server threads, a \
                    multi-thread load",
            workload: Workload::RoundTrips { connections: 400 },
            entries: scale_entries(),
            reduced: true,
        },
        Scenario {
            name: "scale-bulk",
            title: "scale: bulk echo, 32 connections, 64 KiB writes, N server threads, a \
                    multi-thread load",
            workload: Workload::Bulk { connections: 32 },
            entries: scale_entries(),
            reduced: true,
        },
    ]
}

/// One run's figures, in the scenario's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Server CPU time per unit, in microseconds.
    pub cpu_per_unit: f64,
    /// Units per second.
    pub throughput: f64,
    /// Bytes the client wrote to its sockets per unit (counted by the WebSocket client
    /// only; 0 elsewhere).
    pub wire_sent: f64,
    /// Bytes the client read from its sockets per unit (as `wire_sent`).
    pub wire_received: f64,
}

impl Sample {
    /// The figures of `measurement` in `unit`; `None` if nothing was done.
    pub fn from_measurement(measurement: &Measurement, unit: Unit) -> Option<Self> {
        if measurement.units == 0 || measurement.elapsed.is_zero() {
            return None;
        }
        let units = measurement.units as f64 / unit.scale();
        Some(Self {
            cpu_per_unit: measurement.server_cpu.as_secs_f64() * 1e6 / units,
            throughput: units / measurement.elapsed.as_secs_f64(),
            wire_sent: measurement.wire_sent as f64 / units,
            wire_received: measurement.wire_received as f64 / units,
        })
    }
}

/// What the runner needs besides the scenario.
pub struct Context<'a> {
    /// The client's runtime.
    pub runtime: &'a Runtime,
    /// The run's certificate.
    pub identity: &'a Identity,
    /// A connector trusting it.
    pub connector: TlsConnector,
    /// The byte pattern.
    pub pattern: Arc<Pattern>,
    /// The JSON-like text of the compressed WebSocket scenarios.
    pub json: Arc<Pattern>,
    /// The scale scenario's layout and multi-thread load runtime, when it runs.
    pub scale: Option<ScaleLoad>,
    /// Why Node's `ws` server cannot run, if it cannot (its rows are then left out).
    pub node_missing: Option<String>,
}

/// The scale scenario's load: where the servers and the load run, and the load's runtime
/// (a multi-thread one with a worker per load core, each pinned to the load's cores).
pub struct ScaleLoad {
    /// The core layout.
    pub layout: Layout,
    /// The load client's runtime.
    pub runtime: Runtime,
}

impl ScaleLoad {
    /// The runtime for `layout`.
    pub fn new(layout: Layout) -> std::io::Result<Self> {
        let cpus = layout.load_cpus.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(layout.load_threads)
            .on_thread_start(move || {
                if let Some(cpus) = &cpus {
                    // Unpinned load still measures; only the layout note would be wrong.
                    if let Err(error) = crate::affinity::pin_current_thread(cpus) {
                        eprintln!("lori-bench: could not pin a load thread: {error}");
                    }
                }
            })
            .enable_all()
            .build()?;
        Ok(Self { layout, runtime })
    }
}

/// An echo scenario's results: `samples[entry][round]`, `None` for a failed run.
#[derive(Debug, Clone)]
pub struct EchoResult {
    /// The scenario.
    pub scenario: Scenario,
    /// Every run's figures.
    pub samples: Vec<Vec<Option<Sample>>>,
    /// What went wrong in failed runs.
    pub failures: Vec<String>,
    /// Said above the table (the scale layout; rows left out and why).
    pub notes: Vec<String>,
}

impl EchoResult {
    /// The samples of the first listing of `implementation`, if it is in the scenario.
    pub fn of(&self, implementation: Impl) -> Option<&[Option<Sample>]> {
        let index = self
            .scenario
            .entries
            .iter()
            .position(|entry| entry.implementation == implementation && !entry.again)?;
        Some(&self.samples[index])
    }
}

/// Runs `scenario`'s rounds; `progress` hears about each run.
pub fn run_echo(
    scenario: &Scenario,
    settings: &Settings,
    context: &Context<'_>,
    progress: &mut dyn FnMut(&str),
) -> EchoResult {
    let mut scenario = scenario.clone();
    let mut notes = Vec::new();
    if let Some(why) = &context.node_missing {
        let before = scenario.entries.len();
        scenario
            .entries
            .retain(|entry| entry.implementation != Impl::NodeWsDeflate);
        if scenario.entries.len() < before {
            notes.push(format!("{} left out: {why}", Impl::NodeWsDeflate.name()));
        }
    }
    if scenario.is_scaled()
        && let Some(scale) = &context.scale
    {
        notes.push(format!(
            "N = {}: {}",
            scale.layout.threads, scale.layout.note
        ));
    }
    let (rounds, timing) = scenario.plan(settings);
    let mut samples = vec![Vec::with_capacity(rounds); scenario.entries.len()];
    let mut failures = Vec::new();
    for round in 0..rounds {
        for (index, entry) in scenario.entries.iter().enumerate() {
            let outcome = run_once(&scenario, entry.implementation, timing, context);
            match outcome {
                Ok(sample) => samples[index].push(Some(sample)),
                Err(error) => {
                    let failure = format!(
                        "{} {} round {}: {error}",
                        scenario.name,
                        entry.label(),
                        round + 1
                    );
                    progress(&failure);
                    failures.push(failure);
                    samples[index].push(None);
                }
            }
        }
        progress(&format!(
            "{} round {}/{} done",
            scenario.name,
            round + 1,
            rounds
        ));
    }
    EchoResult {
        scenario,
        samples,
        failures,
        notes,
    }
}

/// One run: a fresh server, the load, the figures.
fn run_once(
    scenario: &Scenario,
    implementation: Impl,
    timing: Timing,
    context: &Context<'_>,
) -> Result<Sample, LoadError> {
    run_single(scenario, implementation, timing, context, &mut |_| {})
}

/// One run of `scenario` against `implementation`; `started` hears the server's process id
/// as soon as it listens (so a profiler can attach during the warm-up).
pub fn run_single(
    scenario: &Scenario,
    implementation: Impl,
    timing: Timing,
    context: &Context<'_>,
    started: &mut dyn FnMut(u32),
) -> Result<Sample, LoadError> {
    let scale = if implementation.is_scaled() {
        Some(context.scale.as_ref().ok_or_else(|| {
            LoadError::Io(std::io::Error::other(
                "the scale scenario's load was not set up",
            ))
        })?)
    } else {
        None
    };
    let server = match scale {
        Some(scale) => ServerProcess::start_scaled(
            implementation,
            context.identity,
            scale.layout.threads,
            scale.layout.server_cpus.as_deref(),
        )?,
        None => ServerProcess::start(implementation, context.identity)?,
    };
    started(server.pid());
    let target = Target {
        address: server.address(),
        tls: implementation.is_tls().then(|| context.connector.clone()),
    };
    let pattern = if scenario.is_deflate() {
        &context.json
    } else {
        &context.pattern
    };
    let runtime = scale.map_or(context.runtime, |scale| &scale.runtime);
    let measurement = client::measure(
        runtime,
        &target,
        scenario.workload,
        pattern,
        server.pid(),
        timing,
    )?;
    Sample::from_measurement(&measurement, scenario.unit()).ok_or(LoadError::NoProgress)
}

/// The idle-memory scenario's results: bytes of server RSS growth per idle connection,
/// `samples[entry][round]`.
#[derive(Debug, Clone)]
pub struct IdleResult {
    /// The servers, in round order.
    pub entries: Vec<Impl>,
    /// Connections held open per run.
    pub connections: usize,
    /// Every run's figure, `None` for a failed run.
    pub samples: Vec<Vec<Option<f64>>>,
    /// What went wrong in failed runs.
    pub failures: Vec<String>,
    /// Why fewer connections than asked were used, if they were.
    pub note: Option<String>,
}

impl IdleResult {
    /// The samples of `implementation`, if it was measured.
    pub fn of(&self, implementation: Impl) -> Option<&[Option<f64>]> {
        let index = self
            .entries
            .iter()
            .position(|entry| *entry == implementation)?;
        Some(&self.samples[index])
    }
}

/// File descriptors kept free besides the connections (runtime, pipes, stdio).
const SPARE_FILES: u64 = 64;

/// Runs the idle-memory rounds.
pub fn run_idle(
    settings: &Settings,
    context: &Context<'_>,
    progress: &mut dyn FnMut(&str),
) -> IdleResult {
    let entries = vec![
        Impl::Mio,
        Impl::LoriMio,
        Impl::Tokio,
        Impl::LoriTokioCt,
        Impl::TokioMt,
        Impl::LoriTokioMt,
    ];
    let wanted = settings.idle_connections;
    let needed = wanted as u64 + SPARE_FILES;
    // Raised here, before the servers start, so that they inherit the limit too.
    let (connections, note) = match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit >= needed => (wanted, None),
        Ok(limit) => {
            let usable = usize::try_from(limit.saturating_sub(SPARE_FILES)).unwrap_or(0);
            let note = format!(
                "the open-file limit could only be raised to {limit} (its hard limit), so \
                 {usable} connections were used instead of {wanted}"
            );
            (usable.max(1), Some(note))
        }
        Err(error) => {
            let note = format!(
                "the open-file limit could not be raised ({error}); {wanted} connections \
                 were tried with the limit as it was"
            );
            (wanted, Some(note))
        }
    };
    let mut samples = vec![Vec::with_capacity(settings.idle_rounds); entries.len()];
    let mut failures = Vec::new();
    for round in 0..settings.idle_rounds {
        for (index, implementation) in entries.iter().enumerate() {
            let outcome = ServerProcess::start(*implementation, context.identity)
                .map_err(LoadError::from)
                .and_then(|server| {
                    client::idle_memory(
                        context.runtime,
                        server.address(),
                        &context.pattern,
                        server.pid(),
                        connections,
                    )
                });
            match outcome {
                Ok(measurement) => samples[index].push(Some(measurement.bytes_per_connection())),
                Err(error) => {
                    let failure = format!(
                        "idle {} round {}: {error}",
                        implementation.name(),
                        round + 1
                    );
                    progress(&failure);
                    failures.push(failure);
                    samples[index].push(None);
                }
            }
        }
        progress(&format!(
            "idle round {}/{} done",
            round + 1,
            settings.idle_rounds
        ));
    }
    IdleResult {
        entries,
        connections,
        samples,
        failures,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_scenarios_compare_n_thread_servers_on_each_runtime() {
        let scale: Vec<Scenario> = echo_scenarios()
            .into_iter()
            .filter(Scenario::is_scaled)
            .collect();
        let names: Vec<&str> = scale.iter().map(|scenario| scenario.name).collect();
        assert_eq!(names, SCALE_SCENARIOS);
        for scenario in &scale {
            assert!(scenario.reduced);
            assert!(
                scenario
                    .entries
                    .iter()
                    .all(|entry| entry.implementation.is_scaled())
            );
        }
        assert_eq!(scale[0].workload, Workload::RoundTrips { connections: 400 });
        assert_eq!(scale[1].workload, Workload::Bulk { connections: 32 });
    }

    #[test]
    fn samples_are_per_unit_and_per_second() {
        let measurement = Measurement {
            units: 4 * 1024 * 1024,
            elapsed: Duration::from_secs(2),
            server_cpu: Duration::from_millis(500),
            wire_sent: 8 * 1024 * 1024,
            wire_received: 2 * 1024 * 1024,
        };
        let sample = Sample::from_measurement(&measurement, Unit::Mebibyte).unwrap();
        assert_eq!(sample.cpu_per_unit, 125_000.0);
        assert_eq!(sample.throughput, 2.0);
        assert_eq!(sample.wire_sent, 2.0 * 1024.0 * 1024.0);
        assert_eq!(sample.wire_received, 0.5 * 1024.0 * 1024.0);
        let idle = Measurement {
            units: 0,
            ..measurement
        };
        assert_eq!(Sample::from_measurement(&idle, Unit::RoundTrip), None);
    }

    /// The measuring time `settings` plan for the echo scenarios (warm-up and window of every
    /// run; starting servers, connecting and winding down come on top).
    fn planned(settings: &Settings) -> Duration {
        echo_scenarios()
            .iter()
            .map(|scenario| {
                let (rounds, timing) = scenario.plan(settings);
                let runs = u32::try_from(scenario.entries.len() * rounds).unwrap();
                (timing.warmup + timing.window) * runs
            })
            .sum()
    }

    #[test]
    fn a_quick_run_plans_well_under_three_minutes_and_a_full_run_ten_rounds() {
        // Starting servers, the idle scenario and winding down took about 20 s more in
        // practice (2 min 33 s in all with 135 s planned); the quick run must stay near 3
        // minutes in all (the thread-per-connection rows of rr-1 and bulk-1 and http-100
        // added about 20 s). The reduced scenarios (scale, compressed WebSocket) fit only
        // with one short round each in quick runs and three in full runs.
        assert!(planned(&Settings::quick()) <= Duration::from_secs(160));
        let full = Settings::full();
        assert!(full.rounds >= 10 && full.idle_rounds >= 3 && full.reduced_rounds >= 3);
        assert!(planned(&full) <= Duration::from_secs(36 * 60));
    }

    #[test]
    fn every_scenario_has_each_baseline_before_its_lori_servers_and_one_self_row() {
        for scenario in echo_scenarios() {
            let again: Vec<_> = scenario.entries.iter().filter(|e| e.again).collect();
            assert_eq!(again.len(), 1, "{}", scenario.name);
            assert!(again[0].implementation.is_baseline());
            for (index, entry) in scenario.entries.iter().enumerate() {
                assert_eq!(
                    entry.implementation.protocol(),
                    scenario.entries[0].implementation.protocol()
                );
                for &baseline in entry.implementation.baselines() {
                    let first = scenario
                        .entries
                        .iter()
                        .position(|e| e.implementation == baseline && !e.again);
                    assert!(
                        first.is_some_and(|first| first <= index),
                        "{}",
                        scenario.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_websocket_scenarios_count_messages_the_pattern_can_hold() {
        let ws: Vec<Scenario> = echo_scenarios()
            .into_iter()
            .filter(|scenario| scenario.name.starts_with("ws-"))
            .collect();
        assert_eq!(ws.len(), 4);
        for scenario in ws {
            assert_eq!(scenario.unit(), Unit::Message);
            let (Workload::WsRoundTrips { size, .. } | Workload::WsPipelined { size, .. }) =
                scenario.workload
            else {
                panic!("{} is not a WebSocket workload", scenario.name);
            };
            assert!(size <= crate::pattern::MAX_SLICE, "{}", scenario.name);
            if scenario.is_deflate() {
                assert!(scenario.reduced && scenario.name.starts_with("ws-deflate-"));
                continue;
            }
            let lori: Vec<Impl> = scenario
                .entries
                .iter()
                .map(|entry| entry.implementation)
                .filter(|implementation| !implementation.is_baseline())
                .collect();
            assert_eq!(lori, [Impl::LoriMioWs, Impl::LoriTokioWs]);
            let again = scenario.entries.iter().find(|entry| entry.again);
            assert_eq!(
                again.map(|entry| entry.implementation),
                Some(Impl::WS_SELF_BASELINE)
            );
        }
    }
}
