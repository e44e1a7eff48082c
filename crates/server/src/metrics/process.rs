//! This process's CPU time, memory, open files, threads and start time, read from
//! `/proc/self` at scrape time under the names Prometheus's client libraries use
//! (`process_…`), so that the usual dashboards read them. Elsewhere than on Linux,
//! nothing is written.

use std::path::Path;

use super::exposition::Exposition;

/// What `/proc/self/stat` says, the fields after the command's name.
struct Stat {
    cpu_ticks: u64,
    threads: u64,
    start_ticks: u64,
    virtual_bytes: u64,
}

impl Stat {
    fn read() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command's name is in parentheses and may hold spaces: fields count
        // from after its closing one (field 3, the state, is the first).
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
        Some(Self {
            cpu_ticks: field(14)? + field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            virtual_bytes: field(23)?,
        })
    }
}

/// `Key:   value kB` from `/proc/self/status`, in bytes.
fn status_bytes(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    let kib: u64 = line[key.len()..].trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// The soft limit on open files, from `/proc/self/limits`.
fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// When the machine booted, in seconds since the epoch (`btime` in `/proc/stat`).
fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|line| line.strip_prefix("btime "))?.trim().parse().ok()
}

pub fn write(out: &mut Exposition) {
    let Some(stat) = Stat::read() else { return };
    let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
    out.single(
        "process_cpu_seconds_total",
        "counter",
        "CPU time this process has used (user and system), in seconds.",
        stat.cpu_ticks as f64 / ticks,
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(resident) = status_bytes(&status, "VmRSS") {
        out.single("process_resident_memory_bytes", "gauge", "Resident memory, in bytes.", resident as f64);
    }
    out.single("process_virtual_memory_bytes", "gauge", "Virtual memory, in bytes.", stat.virtual_bytes as f64);
    if let Ok(entries) = std::fs::read_dir(Path::new("/proc/self/fd")) {
        out.single("process_open_fds", "gauge", "Open file descriptors.", entries.count() as f64);
    }
    if let Some(limit) = max_fds() {
        out.single("process_max_fds", "gauge", "The most file descriptors this process may open.", limit as f64);
    }
    out.single("process_threads", "gauge", "The process's threads.", stat.threads as f64);
    if let Some(boot) = boot_time() {
        out.single(
            "process_start_time_seconds",
            "gauge",
            "When this process started, in seconds since the epoch.",
            boot as f64 + stat.start_ticks as f64 / ticks,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_read_as_bytes() {
        let status = "Name:\tatelier\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(status_bytes(status, "VmRSS"), Some(20480 * 1024));
        assert_eq!(status_bytes(status, "VmSwap"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads() {
        let stat = Stat::read().expect("/proc/self/stat");
        assert!(stat.threads >= 1 && stat.virtual_bytes > 0);
        let started = boot_time().expect("btime") as f64
            + stat.start_ticks as f64 / rustix::param::clock_ticks_per_second() as f64;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs_f64();
        assert!(started <= now + 1.0 && started > now - 600.0, "{started} against {now}");
        assert!(max_fds().expect("limits") > 0);
    }
}
