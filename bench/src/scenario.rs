//! The scenarios and how they are run: fair rounds (every implementation once per round,
//! in the same order, a fresh server process each time), the hand-written baseline of each
//! runtime listed twice to show the noise.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_rustls::TlsConnector;

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
    /// Rounds of the idle-memory scenario.
    pub idle_rounds: usize,
    /// Connections the idle-memory scenario opens.
    pub idle_connections: usize,
}

impl Settings {
    /// `--quick`: a few short rounds, for development (well under 3 minutes in all).
    pub fn quick() -> Self {
        Self {
            rounds: 5,
            timing: Timing {
                warmup: Duration::from_millis(150),
                window: Duration::from_millis(400),
            },
            idle_rounds: 1,
            idle_connections: 10_000,
        }
    }

    /// The full run, for BENCHMARKS.md.
    pub fn full() -> Self {
        Self {
            rounds: 10,
            timing: Timing {
                warmup: Duration::from_millis(500),
                window: Duration::from_secs(3),
            },
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
}

impl Scenario {
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
        },
        Scenario {
            name: "bulk-50",
            title: "bulk echo, 50 connections, 64 KiB writes",
            workload: Workload::Bulk { connections: 50 },
            entries: plain_entries(),
        },
        Scenario {
            name: "rr-1",
            title: "64 B round trips, 1 connection",
            workload: Workload::RoundTrips { connections: 1 },
            entries: single_connection_entries(),
        },
        Scenario {
            name: "rr-100",
            title: "64 B round trips, 100 connections",
            workload: Workload::RoundTrips { connections: 100 },
            entries: plain_entries(),
        },
        Scenario {
            name: "conn-rate",
            title: "connection rate: connect, one 64 B echo, close; 4 clients at once",
            workload: Workload::ConnectRate { workers: 4 },
            entries: plain_entries(),
        },
        Scenario {
            name: "tls-bulk-1",
            title: "TLS bulk echo, 1 connection, 64 KiB writes",
            workload: Workload::Bulk { connections: 1 },
            entries: tls_entries(),
        },
        Scenario {
            name: "ws-small",
            title: "WebSocket echo, 64 B binary messages, round trips, 100 connections",
            workload: Workload::WsRoundTrips {
                connections: 100,
                size: 64,
            },
            entries: ws_entries(),
        },
        Scenario {
            name: "ws-64k",
            title: "WebSocket echo, 64 KiB binary messages, 1 connection, 4 in flight",
            workload: Workload::WsPipelined {
                connections: 1,
                size: 64 * 1024,
                in_flight: 4,
            },
            entries: ws_entries(),
        },
        Scenario {
            name: "http-100",
            title: "HTTP/1.1 keep-alive GET / answered by hyper, 100 connections",
            workload: Workload::HttpRequests { connections: 100 },
            entries: http_entries(),
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
    let mut samples = vec![Vec::with_capacity(settings.rounds); scenario.entries.len()];
    let mut failures = Vec::new();
    for round in 0..settings.rounds {
        for (index, entry) in scenario.entries.iter().enumerate() {
            let outcome = run_once(scenario, entry.implementation, settings.timing, context);
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
            settings.rounds
        ));
    }
    EchoResult {
        scenario: scenario.clone(),
        samples,
        failures,
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
    let server = ServerProcess::start(implementation, context.identity)?;
    started(server.pid());
    let target = Target {
        address: server.address(),
        tls: implementation.is_tls().then(|| context.connector.clone()),
    };
    let measurement = client::measure(
        context.runtime,
        &target,
        scenario.workload,
        &context.pattern,
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
    fn samples_are_per_unit_and_per_second() {
        let measurement = Measurement {
            units: 4 * 1024 * 1024,
            elapsed: Duration::from_secs(2),
            server_cpu: Duration::from_millis(500),
        };
        let sample = Sample::from_measurement(&measurement, Unit::Mebibyte).unwrap();
        assert_eq!(sample.cpu_per_unit, 125_000.0);
        assert_eq!(sample.throughput, 2.0);
        let idle = Measurement {
            units: 0,
            ..measurement
        };
        assert_eq!(Sample::from_measurement(&idle, Unit::RoundTrip), None);
    }

    /// The measuring time `settings` plan for the echo scenarios (warm-up and window of every
    /// run; starting servers, connecting and winding down come on top).
    fn planned(settings: &Settings) -> Duration {
        let runs: usize = echo_scenarios()
            .iter()
            .map(|scenario| scenario.entries.len() * settings.rounds)
            .sum();
        (settings.timing.warmup + settings.timing.window) * u32::try_from(runs).unwrap()
    }

    #[test]
    fn a_quick_run_plans_well_under_three_minutes_and_a_full_run_ten_rounds() {
        // Starting servers, the idle scenario and winding down took about 20 s more in
        // practice (2 min 33 s in all with 135 s planned); the quick run must stay near 3
        // minutes in all (the thread-per-connection rows of rr-1 and bulk-1 and http-100
        // added about 20 s).
        assert!(planned(&Settings::quick()) <= Duration::from_secs(160));
        let full = Settings::full();
        assert!(full.rounds >= 10 && full.idle_rounds >= 3);
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
        assert_eq!(ws.len(), 2);
        for scenario in ws {
            assert_eq!(scenario.unit(), Unit::Message);
            let (Workload::WsRoundTrips { size, .. } | Workload::WsPipelined { size, .. }) =
                scenario.workload
            else {
                panic!("{} is not a WebSocket workload", scenario.name);
            };
            assert!(size <= crate::pattern::MAX_SLICE, "{}", scenario.name);
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
