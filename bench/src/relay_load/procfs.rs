//! What `/proc` says about a process: CPU time used and peak resident memory.
//!
//! Peak memory is the kernel's high-water mark (`VmHWM`). Writing `5` to `/proc/PID/clear_refs`
//! resets it to the current resident size, so each phase can be given its own peak; where the
//! kernel refuses, the figure is the process's peak since it started, and the report says so.

use std::{fs, process::Command};

/// Clock ticks per second, the unit of `utime` and `stime` in `/proc/PID/stat`.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// `utime + stime` of a process (or a thread, with `task/TID` as `who`) in clock ticks.
fn stat_ticks(path: &str) -> Option<u64> {
    let stat = fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) are the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time used so far by process `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    stat_ticks(&format!("/proc/{pid}/stat"))
}

/// CPU time used so far by this process's threads named `name`, in clock ticks.
pub fn own_threads_ticks(name: &str) -> Option<u64> {
    let mut total = 0;
    for task in fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = task.path();
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            total += stat_ticks(&dir.join("stat").to_string_lossy()).unwrap_or(0);
        }
    }
    Some(total)
}

/// The peak resident set size in KiB (`VmHWM`) of `pid` (`"self"` for this process).
pub fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// Resets the peak resident set size of `pid` to its current size; false if the kernel refused.
pub fn reset_peak_rss(pid: &str) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}
