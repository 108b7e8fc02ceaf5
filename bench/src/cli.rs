//! The command line: what `lori-bench` is asked to do.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::client::Timing;
use crate::scenario::Settings;
use crate::servers::Impl;
use crate::soak::SoakSettings;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    /// Run one server until killed.
    Server {
        /// Which server.
        implementation: Impl,
        /// The loopback port to listen on (0: any free port).
        port: u16,
        /// The certificate (DER) of the TLS servers.
        cert: Option<PathBuf>,
        /// Its PKCS#8 private key (DER).
        key: Option<PathBuf>,
        /// Threads of the scale servers (N); the others run on one.
        threads: usize,
        /// The cores to run on (the scale scenario pins servers), before any thread starts.
        cpus: Option<Vec<usize>>,
    },
    /// Run the scenarios (all, or those in `only`) and print the tables.
    All {
        /// Rounds and timings.
        settings: Settings,
        /// `--quick` was given (the header says so).
        quick: bool,
        /// The scenarios to run; all when `None`.
        only: Option<Vec<String>>,
        /// The scale scenario's server threads (N); default half the cores, at least 1.
        threads: Option<usize>,
    },
    /// Run one scenario against one server, once, for a profiler to attach to.
    Profile {
        /// Which server.
        implementation: Impl,
        /// The echo scenario's name.
        scenario: String,
        /// The measured window, in seconds (after one second of warm-up).
        seconds: u64,
        /// The scale scenario's server threads (N).
        threads: Option<usize>,
    },
    /// The soak (issue 23): many concurrent connections, random payloads with half-close,
    /// every byte verified, the server's peak RSS.
    Soak {
        /// Connections and payload sizes.
        settings: SoakSettings,
        /// The servers to soak (plain echo servers).
        servers: Vec<Impl>,
    },
    /// List the servers and scenarios.
    List,
    /// Run the UDP echo scenarios (issue 19) and print their table.
    Udp {
        /// `--quick`: one short round each.
        quick: bool,
    },
    /// Run one UDP echo server until killed.
    UdpServer {
        /// Which server (`crate::udp::SERVERS`).
        implementation: String,
        /// The loopback port (0: any free port).
        port: u16,
    },
}

/// The usage text printed with every command-line error.
pub const USAGE: &str = "usage:
  lori-bench all [--quick] [--rounds N] [--window-ms MS] [--only NAME,NAME,...] [--threads N]
  lori-bench server --impl NAME --port P [--cert DER --key DER] [--threads N] [--cpus 0,1,...]
  lori-bench profile --impl NAME --scenario NAME [--seconds S] [--threads N]
  lori-bench soak [--connections N] [--max-payload BYTES] [--impl NAME,NAME,...]
  lori-bench list
  lori-bench udp [--quick]
  lori-bench udp-server --impl tokio-udp|lori-tokio-udp|lori-mio-udp --port P";

/// A positive number for `flag`, or why not.
fn positive(value: &str, flag: &str) -> Result<usize, String> {
    value
        .parse()
        .ok()
        .filter(|&n: &usize| n > 0)
        .ok_or_else(|| format!("{flag} takes a positive number"))
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> io::Result<Cli> {
    let usage = |problem: &str| io::Error::other(format!("{problem}\n{USAGE}"));
    let (command, rest) = args.split_first().ok_or_else(|| usage("no command"))?;
    match command.as_str() {
        "list" if rest.is_empty() => Ok(Cli::List),
        "udp" => match rest {
            [] => Ok(Cli::Udp { quick: false }),
            [flag] if flag == "--quick" => Ok(Cli::Udp { quick: true }),
            _ => Err(usage("udp takes only --quick")),
        },
        "udp-server" => match rest {
            [impl_flag, name, port_flag, port]
                if impl_flag == "--impl" && port_flag == "--port" =>
            {
                Ok(Cli::UdpServer {
                    implementation: name.clone(),
                    port: port.parse().map_err(|_| usage("--port takes a port"))?,
                })
            }
            _ => Err(usage("udp-server takes --impl NAME --port P")),
        },
        "server" => {
            let mut implementation = None;
            let mut port = None;
            let (mut cert, mut key) = (None, None);
            let mut threads = 1;
            let mut cpus = None;
            let mut flags = rest.iter();
            while let Some(flag) = flags.next() {
                let value = flags
                    .next()
                    .ok_or_else(|| usage(&format!("{flag} needs a value")))?;
                match flag.as_str() {
                    "--impl" => {
                        implementation = Some(
                            Impl::from_name(value)
                                .ok_or_else(|| usage(&format!("unknown server {value}")))?,
                        )
                    }
                    "--port" => {
                        port = Some(value.parse().map_err(|_| usage("--port takes a port"))?)
                    }
                    "--cert" => cert = Some(PathBuf::from(value)),
                    "--key" => key = Some(PathBuf::from(value)),
                    "--threads" => threads = positive(value, "--threads").map_err(|e| usage(&e))?,
                    "--cpus" => {
                        cpus = Some(
                            crate::affinity::parse_cpus(value)
                                .ok_or_else(|| usage("--cpus takes a list like 0,1,2"))?,
                        )
                    }
                    other => return Err(usage(&format!("unknown flag {other}"))),
                }
            }
            Ok(Cli::Server {
                implementation: implementation.ok_or_else(|| usage("server needs --impl"))?,
                port: port.ok_or_else(|| usage("server needs --port"))?,
                cert,
                key,
                threads,
                cpus,
            })
        }
        "all" => {
            let quick = rest.iter().any(|flag| flag == "--quick");
            let mut settings = if quick {
                Settings::quick()
            } else {
                Settings::full()
            };
            let mut only = None;
            let mut threads = None;
            let mut flags = rest.iter().filter(|flag| *flag != "--quick");
            while let Some(flag) = flags.next() {
                let value = flags
                    .next()
                    .ok_or_else(|| usage(&format!("{flag} needs a value")))?;
                match flag.as_str() {
                    "--rounds" => {
                        settings.rounds = value
                            .parse()
                            .ok()
                            .filter(|&rounds| rounds > 0)
                            .ok_or_else(|| usage("--rounds takes a positive number"))?;
                        settings.reduced_rounds = settings.rounds;
                    }
                    "--threads" => {
                        threads = Some(positive(value, "--threads").map_err(|e| usage(&e))?)
                    }
                    "--window-ms" => {
                        let millis: u64 = value
                            .parse()
                            .ok()
                            .filter(|&millis| millis > 0)
                            .ok_or_else(|| usage("--window-ms takes a positive number"))?;
                        settings.timing = Timing {
                            window: Duration::from_millis(millis),
                            ..settings.timing
                        };
                        settings.reduced_timing = Timing {
                            window: Duration::from_millis(millis),
                            ..settings.reduced_timing
                        };
                    }
                    "--only" => only = Some(value.split(',').map(str::to_owned).collect()),
                    other => return Err(usage(&format!("unknown flag {other}"))),
                }
            }
            Ok(Cli::All {
                settings,
                quick,
                only,
                threads,
            })
        }
        "profile" => {
            let mut implementation = None;
            let mut scenario = None;
            let mut seconds = 10;
            let mut threads = None;
            let mut flags = rest.iter();
            while let Some(flag) = flags.next() {
                let value = flags
                    .next()
                    .ok_or_else(|| usage(&format!("{flag} needs a value")))?;
                match flag.as_str() {
                    "--impl" => {
                        implementation = Some(
                            Impl::from_name(value)
                                .ok_or_else(|| usage(&format!("unknown server {value}")))?,
                        )
                    }
                    "--scenario" => scenario = Some(value.clone()),
                    "--seconds" => {
                        seconds = value
                            .parse()
                            .ok()
                            .filter(|&seconds| seconds > 0)
                            .ok_or_else(|| usage("--seconds takes a positive number"))?
                    }
                    "--threads" => {
                        threads = Some(positive(value, "--threads").map_err(|e| usage(&e))?)
                    }
                    other => return Err(usage(&format!("unknown flag {other}"))),
                }
            }
            Ok(Cli::Profile {
                implementation: implementation.ok_or_else(|| usage("profile needs --impl"))?,
                scenario: scenario.ok_or_else(|| usage("profile needs --scenario"))?,
                seconds,
                threads,
            })
        }
        "soak" => {
            let mut settings = SoakSettings::default();
            let mut servers = vec![Impl::LoriMio, Impl::LoriTokioCt];
            let mut flags = rest.iter();
            while let Some(flag) = flags.next() {
                let value = flags
                    .next()
                    .ok_or_else(|| usage(&format!("{flag} needs a value")))?;
                let positive = |what: &str| {
                    value
                        .parse::<usize>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| usage(&format!("{what} takes a positive number")))
                };
                match flag.as_str() {
                    "--connections" => settings.connections = positive("--connections")?,
                    "--max-payload" => settings.max_payload = positive("--max-payload")?,
                    "--impl" => {
                        servers = value
                            .split(',')
                            .map(|name| {
                                Impl::from_name(name)
                                    .filter(|server| {
                                        server.protocol() == crate::servers::Protocol::Plain
                                    })
                                    .ok_or_else(|| {
                                        usage(&format!("{name} is not a plain echo server"))
                                    })
                            })
                            .collect::<io::Result<_>>()?
                    }
                    other => return Err(usage(&format!("unknown flag {other}"))),
                }
            }
            Ok(Cli::Soak { settings, servers })
        }
        other => Err(usage(&format!("unknown command {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn server_flags_are_parsed() {
        assert_eq!(
            parse(&args("server --impl lori-mio --port 7000")).unwrap(),
            Cli::Server {
                implementation: Impl::LoriMio,
                port: 7000,
                cert: None,
                key: None,
                threads: 1,
                cpus: None,
            }
        );
        assert_eq!(
            parse(&args(
                "server --impl mio-n --port 0 --threads 8 --cpus 0,1,2,3,4,5,6,7"
            ))
            .unwrap(),
            Cli::Server {
                implementation: Impl::MioN,
                port: 0,
                cert: None,
                key: None,
                threads: 8,
                cpus: Some((0..8).collect()),
            }
        );
        assert!(parse(&args("server --impl mio-n --port 0 --threads 0")).is_err());
        assert!(parse(&args("server --impl mio-n --port 0 --cpus a")).is_err());
        assert!(parse(&args("server --impl nginx --port 1")).is_err());
        assert!(parse(&args("server --impl mio")).is_err());
        assert!(parse(&args("server --impl mio --port 99999")).is_err());
    }

    #[test]
    fn all_takes_quick_rounds_and_only() {
        let Cli::All {
            settings,
            quick,
            only,
            threads,
        } = parse(&args("all --rounds 4 --quick --only rr-1,idle --threads 8")).unwrap()
        else {
            panic!("not all");
        };
        assert!(quick);
        assert_eq!(threads, Some(8));
        assert_eq!(settings.rounds, 4);
        assert_eq!(settings.reduced_rounds, 4);
        assert_eq!(settings.timing.window, Settings::quick().timing.window);
        assert_eq!(only, Some(vec!["rr-1".to_owned(), "idle".to_owned()]));
        assert!(parse(&args("all --rounds 0")).is_err());
        assert!(parse(&args("all --frobnicate 1")).is_err());
        assert!(parse(&args("bench")).is_err());
        assert_eq!(
            parse(&args("profile --impl mio --scenario rr-1")).unwrap(),
            Cli::Profile {
                implementation: Impl::Mio,
                scenario: "rr-1".to_owned(),
                seconds: 10,
                threads: None,
            }
        );
        assert!(parse(&args("profile --impl mio --scenario rr-1 --seconds 0")).is_err());
        assert!(parse(&[]).is_err());
    }
}
