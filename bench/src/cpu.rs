//! CPU time from /proc: of a process, of its ended children, and of the whole
//! machine, and the meter that splits a measurement's CPU between them.

use crate::server::Server;

/// CPU time of a process in jiffies (USER_HZ = 100 per second).
#[derive(Debug, Clone, Copy)]
pub struct ProcessCpu {
    pub user: u64,
    pub system: u64,
}

/// User and system CPU time of a process, from its `/proc/<pid>/stat`.
pub fn process_cpu(stat_path: &str) -> Option<ProcessCpu> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcessCpu { user: fields.get(11)?.parse().ok()?, system: fields.get(12)?.parse().ok()? })
}

pub fn jiffies_secs(jiffies: u64) -> f64 {
    jiffies as f64 / 100.0
}

/// Machine-wide (busy, total) jiffies from `/proc/stat`.
pub fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// CPU used during a measurement: a process's (the server's, or a peer's), this
/// program's, and the machine's.
pub struct CpuMeter {
    pid: u32,
    process: Option<ProcessCpu>,
    bench: Option<ProcessCpu>,
    machine: Option<(u64, u64)>,
}

impl CpuMeter {
    pub fn start(server: &Server) -> CpuMeter {
        CpuMeter::of_pid(server.pid())
    }

    /// The meter of any process (a peer's server).
    pub fn of_pid(pid: u32) -> CpuMeter {
        CpuMeter {
            pid,
            process: process_cpu(&format!("/proc/{pid}/stat")),
            bench: process_cpu("/proc/self/stat"),
            machine: machine_jiffies(),
        }
    }

    /// "CPU: server 1.23 s (user 0.80 + sys 0.43), bench 0.45 s, rest of machine 0.10 s; all cores 97% busy".
    pub fn describe(&self) -> String {
        self.describe_as("server")
    }

    /// The same, the process named `name`.
    pub fn describe_as(&self, name: &str) -> String {
        let mut parts = Vec::new();
        let mut accounted = 0;
        if let (Some(a), Some(b)) = (self.process, process_cpu(&format!("/proc/{}/stat", self.pid))) {
            let (user, system) = (b.user.saturating_sub(a.user), b.system.saturating_sub(a.system));
            accounted += user + system;
            parts.push(format!(
                "{name} {:.2} s (user {:.2} + sys {:.2})",
                jiffies_secs(user + system),
                jiffies_secs(user),
                jiffies_secs(system)
            ));
        }
        if let (Some(a), Some(b)) = (self.bench, process_cpu("/proc/self/stat")) {
            let used = (b.user + b.system).saturating_sub(a.user + a.system);
            accounted += used;
            parts.push(format!("bench {:.2} s", jiffies_secs(used)));
        }
        let mut text = format!("CPU: {}", parts.join(", "));
        if let (Some((busy0, total0)), Some((busy1, total1))) = (self.machine, machine_jiffies())
            && total1 > total0
        {
            let busy = busy1.saturating_sub(busy0);
            // /proc/stat counts every core; USER_HZ is the same unit.
            text.push_str(&format!(
                ", rest of machine {:.2} s; all cores {:.0}% busy",
                jiffies_secs(busy.saturating_sub(accounted)),
                busy as f64 / (total1 - total0) as f64 * 100.0
            ));
        }
        text
    }
}

/// CPU jiffies used between two readings.
pub fn cpu_between(before: Option<ProcessCpu>, after: Option<ProcessCpu>) -> Option<u64> {
    let (a, b) = (before?, after?);
    Some((b.user + b.system).saturating_sub(a.user + a.system))
}

/// User and system CPU time of a process's ended (and waited-for) children, from
/// its `/proc/<pid>/stat` (the server's ffmpeg runs, which take video posters).
pub fn children_cpu(pid: u32) -> Option<ProcessCpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcessCpu { user: fields.get(13)?.parse().ok()?, system: fields.get(14)?.parse().ok()? })
}
