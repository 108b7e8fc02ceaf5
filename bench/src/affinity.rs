//! The scale scenario's core layout: which cores the server's N threads and the load
//! client's threads may run on (`sched_setaffinity`), disjoint when the machine has enough
//! of them.

use std::io;

/// The cores this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is an empty set; sched_getaffinity writes at most
    // size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid cpu_set_t of `size` bytes.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..count).collect();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE and `set` is initialised.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Restricts the calling thread (and the threads it starts afterwards) to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::other(format!("no such core {cpu}")));
        }
        // SAFETY: `cpu` is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t; pid 0 is the calling thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A core list as `lori-bench server --cpus` takes it: `0,1,2`.
pub fn format_cpus(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses [`format_cpus`]'s form.
pub fn parse_cpus(text: &str) -> Option<Vec<usize>> {
    let cpus: Vec<usize> = text
        .split(',')
        .map(|cpu| cpu.trim().parse().ok())
        .collect::<Option<_>>()?;
    (!cpus.is_empty()).then_some(cpus)
}

/// The default server thread count: half the cores, at least 1.
pub fn default_threads() -> usize {
    (allowed_cpus().len() / 2).max(1)
}

/// Where the scale scenario's server and load run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Server threads (N).
    pub threads: usize,
    /// The load client's threads (M).
    pub load_threads: usize,
    /// The server's cores, when pinned.
    pub server_cpus: Option<Vec<usize>>,
    /// The load's cores, when pinned.
    pub load_cpus: Option<Vec<usize>>,
    /// How it was laid out, in words (for the report).
    pub note: String,
}

impl Layout {
    /// N server threads on the cores in `cpus`: the server on the first N, the load (one
    /// thread per remaining core) on the rest when at least one is left; otherwise nothing
    /// is pinned and the load gets N threads, sharing the cores with the server.
    pub fn plan(threads: usize, cpus: &[usize]) -> Self {
        let threads = threads.max(1);
        if cpus.len() > threads {
            let (server, load) = cpus.split_at(threads);
            Self {
                threads,
                load_threads: load.len(),
                server_cpus: Some(server.to_vec()),
                load_cpus: Some(load.to_vec()),
                note: format!(
                    "the server's {threads} thread(s) pinned to core(s) {}; the load's {} \
                     thread(s) to core(s) {}",
                    format_cpus(server),
                    load.len(),
                    format_cpus(load)
                ),
            }
        } else {
            Self {
                threads,
                load_threads: threads,
                server_cpus: None,
                load_cpus: None,
                note: format!(
                    "{threads} server thread(s) and {threads} load thread(s), not pinned: \
                     {} core(s) are too few to give the server {threads} and the load at \
                     least one of its own",
                    cpus.len()
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_and_the_load_get_disjoint_cores_when_there_are_enough() {
        let cpus: Vec<usize> = (0..16).collect();
        let layout = Layout::plan(8, &cpus);
        assert_eq!(layout.server_cpus, Some((0..8).collect()));
        assert_eq!(layout.load_cpus, Some((8..16).collect()));
        assert_eq!(layout.load_threads, 8);
        let small = Layout::plan(1, &[0, 1]);
        assert_eq!(small.server_cpus, Some(vec![0]));
        assert_eq!(small.load_cpus, Some(vec![1]));
        let crowded = Layout::plan(2, &[0, 1]);
        assert_eq!((crowded.server_cpus, crowded.load_cpus), (None, None));
        assert_eq!(crowded.load_threads, 2);
        assert!(crowded.note.contains("not pinned"));
        assert_eq!(Layout::plan(0, &[0]).threads, 1);
    }

    #[test]
    fn core_lists_round_trip_and_pinning_to_the_allowed_cores_works() {
        assert_eq!(parse_cpus(&format_cpus(&[0, 3, 7])), Some(vec![0, 3, 7]));
        assert_eq!(parse_cpus(""), None);
        assert_eq!(parse_cpus("1,x"), None);
        let allowed = allowed_cpus();
        assert!(!allowed.is_empty());
        std::thread::spawn(move || {
            pin_current_thread(&allowed).unwrap();
            assert_eq!(allowed_cpus(), allowed);
        })
        .join()
        .unwrap();
    }
}
