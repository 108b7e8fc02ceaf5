//! `lori-bench`: lori's drivers against hand-written tokio, mio and tokio-rustls echo
//! servers, and lori's WebSocket against `tokio-tungstenite` and `fastwebsockets`, measured
//! by one verifying load client, with ratios.
//!
//! ```sh
//! cargo run --release -p lori-bench -- all --quick      # under 3 minutes, noisy
//! cargo run --release -p lori-bench -- all              # the full run for BENCHMARKS.md
//! cargo run --release -p lori-bench -- all --quick --only rr-1,idle
//! cargo run --release -p lori-bench -- all --only scale --threads 8 --rounds 10
//! cargo run --release -p lori-bench -- all --only ws-deflate-1k,ws-deflate-64k
//! cargo run --release -p lori-bench -- server --impl lori-mio --port 7000
//! cargo run --release -p lori-bench -- profile --impl lori-mio --scenario bulk-50 --seconds 10
//! cargo run --release -p lori-bench -- soak                 # 10,000 connections (issue 23)
//! cargo run --release -p lori-bench -- list
//! cargo run --release -p lori-bench -- udp              # UDP echo (issue 19)
//! ```
//!
//! `profile` runs one scenario once against one server and prints `server pid N` to stderr
//! when the server listens, one second before the measured window starts, so that
//! `perf record -e cpu-clock -g -p N` can watch it.
//!
//! Each server runs alone in a child process (`lori-bench server`), started fresh for every
//! run. The primary figure is the server's CPU time per unit of work (from
//! `/proc/PID/stat`) over the measured window, as a ratio to the hand-written server on the
//! same runtime; throughput is secondary, because on a 2-core machine the client saturates
//! a core whatever the server does. The markdown goes to stdout, progress to stderr.

mod affinity;
mod certs;
mod child;
mod cli;
mod client;
mod host;
mod http_client;
mod pattern;
mod procfs;
mod report;
mod scenario;
mod servers;
mod soak;
mod stats;
mod udp;
mod ws_client;
mod ws_frame;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsConnector;

use crate::certs::Identity;
use crate::cli::Cli;
use crate::client::Timing;
use crate::pattern::Pattern;
use crate::report::RunInfo;
use crate::scenario::{Context, Settings};
use crate::servers::Impl;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = cli::parse(&args).and_then(|command| match command {
        Cli::Server {
            implementation,
            port,
            cert,
            key,
            threads,
            cpus,
        } => serve(implementation, port, cert, key, threads, cpus),
        Cli::All {
            settings,
            quick,
            only,
            threads,
        } => run_all(settings, quick, only.as_deref(), threads),
        Cli::Profile {
            implementation,
            scenario,
            seconds,
            threads,
        } => profile(implementation, &scenario, seconds, threads),
        Cli::Soak { settings, servers } => run_soak(settings, &servers),
        Cli::List => list(),
        Cli::Udp { quick } => udp::run(quick),
        Cli::UdpServer {
            implementation,
            port,
        } => udp::serve(&implementation, port),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lori-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `lori-bench server`.
fn serve(
    implementation: Impl,
    port: u16,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    threads: usize,
    cpus: Option<Vec<usize>>,
) -> io::Result<()> {
    // Before any thread starts, so that every thread of the server inherits it.
    if let Some(cpus) = cpus {
        affinity::pin_current_thread(&cpus)?;
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(certs::server_config(&cert, &key)?),
        (None, None) => None,
        _ => return Err(io::Error::other("--cert and --key go together")),
    };
    servers::run(implementation, port, tls, threads)
}

/// `lori-bench list`.
fn list() -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "servers:")?;
    for implementation in Impl::ALL {
        writeln!(out, "  {}", implementation.name())?;
    }
    writeln!(out, "scenarios:")?;
    for scenario in scenario::echo_scenarios() {
        writeln!(out, "  {:<11} {}", scenario.name, scenario.title)?;
    }
    writeln!(out, "  {:<11} server memory per idle connection", "idle")?;
    writeln!(
        out,
        "  {:<11} scale-rr and scale-bulk (--threads N: server threads)",
        "scale"
    )?;
    Ok(())
}

/// `lori-bench profile`.
fn profile(
    implementation: Impl,
    name: &str,
    seconds: u64,
    threads: Option<usize>,
) -> io::Result<()> {
    let scenario = scenario::echo_scenarios()
        .into_iter()
        .find(|scenario| scenario.name == name)
        .ok_or_else(|| io::Error::other(format!("unknown echo scenario {name}")))?;
    if implementation.protocol() != scenario.entries[0].implementation.protocol() {
        return Err(io::Error::other(format!(
            "{} does not run in {name}",
            implementation.name()
        )));
    }
    let dir = temp_dir()?;
    let outcome = (|| {
        let identity = Identity::generate(&dir)?;
        let runtime = client_runtime()?;
        let mut context = context(&runtime, &identity)?;
        if scenario.is_scaled() {
            context.scale = Some(scale_load(threads)?);
        }
        let timing = Timing {
            warmup: Duration::from_secs(1),
            window: Duration::from_secs(seconds),
        };
        let sample =
            scenario::run_single(&scenario, implementation, timing, &context, &mut |pid| {
                eprintln!("server pid {pid}");
            })
            .map_err(io::Error::other)?;
        let unit = scenario.unit().name();
        println!(
            "{} {name}: {:.2} µs server CPU per {unit}, {:.0} {unit}/s",
            implementation.name(),
            sample.cpu_per_unit,
            sample.throughput
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// A fresh directory for the run's certificate.
fn temp_dir() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("lori-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The load client's runtime: one thread.
fn client_runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// What every run shares.
fn context<'a>(
    runtime: &'a tokio::runtime::Runtime,
    identity: &'a Identity,
) -> io::Result<Context<'a>> {
    Ok(Context {
        runtime,
        identity,
        connector: TlsConnector::from(identity.client_config()?),
        pattern: Arc::new(Pattern::new()),
        json: Arc::new(Pattern::json()),
        scale: None,
        node_missing: None,
    })
}

/// The scale scenario's layout for `threads` server threads (default half the cores) and
/// its load runtime; the layout is printed.
fn scale_load(threads: Option<usize>) -> io::Result<scenario::ScaleLoad> {
    let threads = threads.unwrap_or_else(affinity::default_threads);
    let layout = affinity::Layout::plan(threads, &affinity::allowed_cpus());
    eprintln!("lori-bench: scale: N = {threads}: {}", layout.note);
    scenario::ScaleLoad::new(layout)
}

/// `lori-bench soak`.
fn run_soak(settings: soak::SoakSettings, servers: &[Impl]) -> io::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("lori-bench: warning: a debug build; run with --release for real figures");
    }
    let dir = temp_dir()?;
    let identity = Identity::generate(&dir);
    let runtime = client_runtime();
    let outcome = identity.and_then(|identity| {
        let runtime = runtime?;
        let mut results = Vec::new();
        for &server in servers {
            eprintln!(
                "lori-bench: soak {} ({} connections)",
                server.name(),
                settings.connections
            );
            let result = soak::run_soak(server, &identity, settings, &runtime)?;
            for failure in &result.failures {
                eprintln!("lori-bench: soak {}: {failure}", server.name());
            }
            results.push(result);
        }
        print!("{}", soak::table(settings, &results));
        match results.iter().find(|result| result.failed > 0) {
            Some(failed) => Err(io::Error::other(format!(
                "{}: {} connections failed",
                failed.implementation.name(),
                failed.failed
            ))),
            None => Ok(()),
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// `lori-bench all`.
fn run_all(
    settings: Settings,
    quick: bool,
    only: Option<&[String]>,
    threads: Option<usize>,
) -> io::Result<()> {
    // `scale` stands for both scale scenarios.
    let wanted = |name: &str| {
        only.is_none_or(|names| {
            names
                .iter()
                .any(|n| n == name || (n == "scale" && scenario::SCALE_SCENARIOS.contains(&name)))
        })
    };
    if let Some(names) = only {
        let known: Vec<&str> = scenario::echo_scenarios()
            .iter()
            .map(|scenario| scenario.name)
            .chain(["idle", "scale"])
            .collect();
        if let Some(unknown) = names.iter().find(|name| !known.contains(&name.as_str())) {
            return Err(io::Error::other(format!("unknown scenario {unknown}")));
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("lori-bench: warning: a debug build; run with --release for real figures");
    }
    if wanted("conn-rate") && procfs::tcp_tw_reuse() == Some(0) {
        eprintln!(
            "lori-bench: warning: net.ipv4.tcp_tw_reuse is 0, so conn-rate may run out of \
             ephemeral ports (set it to 2, the Linux default)"
        );
    }
    let dir = temp_dir()?;
    let outcome = run_in(&dir, settings, quick, &wanted, threads);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Runs the wanted scenarios with the run's certificate in `dir`.
fn run_in(
    dir: &std::path::Path,
    settings: Settings,
    quick: bool,
    wanted: &dyn Fn(&str) -> bool,
    threads: Option<usize>,
) -> io::Result<()> {
    let identity = Identity::generate(dir)?;
    let runtime = client_runtime()?;
    let mut context = context(&runtime, &identity)?;
    let scenarios: Vec<_> = scenario::echo_scenarios()
        .into_iter()
        .filter(|scenario| wanted(scenario.name))
        .collect();
    if scenarios.iter().any(scenario::Scenario::is_scaled) {
        context.scale = Some(scale_load(threads)?);
    }
    if scenarios.iter().any(scenario::Scenario::is_deflate) {
        context.node_missing = servers::node_ws::available().err();
        if let Some(why) = &context.node_missing {
            eprintln!("lori-bench: node-ws-deflate is left out: {why}");
        }
    }
    let info = RunInfo {
        mode: if quick { "quick, noisy" } else { "full" },
        date: host::command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine: host::machine(),
        commit: host::commit(),
        load: host::load_average(),
        settings,
    };
    let mut out = io::stdout().lock();
    write!(out, "{}", report::header(&info))?;
    writeln!(out)?;
    out.flush()?;
    let mut progress = |line: &str| eprintln!("lori-bench: {line}");
    let mut echo_results = Vec::new();
    for scenario in scenarios {
        let result = scenario::run_echo(&scenario, &settings, &context, &mut progress);
        write!(out, "{}", report::echo_table(&result))?;
        out.flush()?;
        echo_results.push(result);
    }
    let idle = wanted("idle").then(|| scenario::run_idle(&settings, &context, &mut progress));
    if let Some(idle) = &idle {
        write!(out, "{}", report::idle_table(idle))?;
    }
    write!(
        out,
        "{}",
        report::targets_table(&echo_results, idle.as_ref())
    )?;
    writeln!(out, "Load average at the end: {}.", host::load_average())?;
    out.flush()
}
