//! What the kernel says about a server process: CPU time from `/proc/PID/stat` and
//! resident memory from `/proc/PID/status`.

use std::io;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The clock-tick rate `/proc/PID/stat` counts in (`getconf CLK_TCK`, asked once; 100 if
/// that fails, which is what Linux reports on every common architecture).
pub fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|&ticks: &u64| ticks > 0)
            .unwrap_or(100)
    })
}

/// `net.ipv4.tcp_tw_reuse` (0: off, 1: on, 2: loopback only, the default), if readable.
/// The connection-rate scenario makes tens of thousands of connections a second from one
/// address; without reuse their TIME_WAIT entries exhaust the ephemeral ports.
pub fn tcp_tw_reuse() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_tw_reuse")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The CPU time (user + system, all threads) `pid` has used so far.
pub fn cpu_time(pid: u32, ticks_per_second: u64) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_cpu_ticks(&stat)
        .ok_or_else(|| io::Error::other(format!("unreadable /proc/{pid}/stat")))?;
    let per_tick = Duration::from_secs(1) / u32::try_from(ticks_per_second).unwrap_or(100);
    Ok(per_tick * u32::try_from(ticks).unwrap_or(u32::MAX))
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field
/// 2) is in parentheses and may itself hold spaces and parentheses, so fields are counted
/// from the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// The resident set size of `pid`, in bytes.
pub fn resident_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_rss_bytes(&status)
        .ok_or_else(|| io::Error::other(format!("no VmRSS in /proc/{pid}/status")))
}

/// The `VmRSS:` line of a `/proc/PID/status` text, in bytes.
pub fn parse_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let kib: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => kib.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_last_parenthesis() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 37 5 0 0 20 0 2 0 \
                    123 456 789";
        assert_eq!(parse_cpu_ticks(stat), Some(42));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("no name here"), None);
    }

    #[test]
    fn rss_is_read_in_kib_and_returned_in_bytes() {
        let status = "Name:\tlori-bench\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t2\n";
        assert_eq!(parse_rss_bytes(status), Some(2048 * 1024));
        assert_eq!(parse_rss_bytes("Name:\tx\n"), None);
        assert_eq!(parse_rss_bytes("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let pid = std::process::id();
        assert!(resident_bytes(pid).unwrap() > 0);
        cpu_time(pid, ticks_per_second()).unwrap();
    }
}
