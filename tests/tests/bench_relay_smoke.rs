//! `samordna-bench relay --quick` runs end to end against the real relay, so the benchmark cannot
//! silently rot: every measurement of the report moved envelopes, and none failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::PathBuf, process::Command, time::Duration};

use samordna_tests::{binaries, relay::postgres_url, run_within};

/// Builds `samordna-bench` into the same profile directory as the relay `binaries()` built.
fn bench_binary() -> PathBuf {
    let relay = &binaries().relay;
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bin", "samordna-bench", "-p", "samordna-bench"])
        .current_dir(&workspace)
        .status()
        .expect("run cargo build for samordna-bench");
    assert!(status.success(), "cargo build of samordna-bench failed");
    relay.with_file_name("samordna-bench")
}

/// The cells of the Markdown table rows whose first three cells are `server`, `size`, `what`.
fn row<'a>(report: &'a str, server: &str, what: &str) -> Vec<&'a str> {
    report
        .lines()
        .map(|l| l.trim().trim_matches('|').split('|').map(str::trim).collect::<Vec<_>>())
        .find(|cells| cells.len() >= 12 && cells[0] == server && cells[1] == "4 KiB" && cells[2] == what)
        .unwrap_or_else(|| panic!("no row {server} / {what} in:\n{report}"))
}

#[test]
fn the_relay_benchmark_runs_and_every_row_moved_envelopes() {
    let mut cmd = Command::new(bench_binary());
    cmd.args(["relay", "--quick", "--markdown", "--clients", "4"]);
    let pg = postgres_url();
    match &pg {
        Some(url) => cmd.args(["--backends", "sqlite,postgres", "--postgres-url", url]),
        None => cmd.args(["--backends", "sqlite"]),
    };
    let out = run_within(&mut cmd, Duration::from_secs(120));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));

    let mut rows = vec![
        ("bare mTLS", "PUT, read and discard"),
        ("bare mTLS", "GET from memory"),
        ("relay, SQLite", "upload (PUT)"),
        ("relay, SQLite", "fetch (GET)"),
        ("SQLite", "storage: 1 durable tx per upload"),
    ];
    if pg.is_some() {
        rows.extend([
            ("relay, PostgreSQL", "upload (PUT)"),
            ("relay, PostgreSQL", "fetch (GET)"),
            ("PostgreSQL", "storage: 1 durable tx per upload"),
        ]);
    }
    for (server, what) in rows {
        let cells = row(&report, server, what);
        let done: u64 = cells[3].split_whitespace().next().unwrap().parse().unwrap();
        let per_s: f64 = cells[4].parse().unwrap();
        assert!(done > 0 && per_s > 0.0, "{server} / {what} moved nothing: {cells:?}");
        assert_eq!(cells[11], "0", "{server} / {what} had errors: {cells:?}");
    }
    // The relay's own CPU and memory were read from /proc.
    let relay = row(&report, "relay, SQLite", "upload (PUT)");
    assert!(relay[9].parse::<f64>().unwrap() > 0.0, "{relay:?}");
    assert!(relay[10].ends_with("MiB"), "{relay:?}");
    // The large envelope went through and back.
    assert!(report.contains("| upload (PUT) |"), "{report}");
    assert!(report.contains("| fetch (GET) to a file |"), "{report}");
    assert!(report.contains("SQLite, 4 KiB uploads:"), "{report}");
}
