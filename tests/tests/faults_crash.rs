//! A relay killed with SIGKILL in the middle of concurrent uploads, on SQLite and PostgreSQL.
//!
//! After a restart on the same database: every upload the relay acknowledged (201) is there and
//! fetches byte for byte; no envelope is half stored (every row has all its chunks); uploads that
//! were in flight are either wholly there or not at all, and a retry stores them; the access log
//! verifies, both by the relay at start-up and by the compliance officer's tool.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    process::Command,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use samordna_core::{EnvelopeId, audit::Action};
use samordna_tests::{
    api::Api,
    faults::{Fixture, assert_fetches_intact, assert_log_verifies, assert_no_envelope_half_stored, random16},
    relay::{Backend, TestRelay},
};

/// Uploading threads, and envelopes each has ready.
const THREADS: usize = 4;
const PER_THREAD: usize = 12;

struct Attempt {
    id: EnvelopeId,
    bytes: Vec<u8>,
    /// `municipality` (sending to the region) or `region` (sending to the municipality).
    sender: &'static str,
    status: u16,
}

/// SIGKILL, while other threads still use the relay (its `Child` is reaped afterwards by `kill9`).
fn sigkill(pid: u32) {
    let status = Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("run kill");
    assert!(status.success());
}

fn recipient(sender: &str) -> &'static str {
    if sender == "municipality" { "region" } else { "municipality" }
}

fn acknowledged_uploads_survive_kill_9(backend: Backend) {
    let Some(mut relay) = TestRelay::start(backend) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    let fx = Fixture::new(&relay);
    let kommun = Api::new(&relay, "municipality").signer();
    let region = Api::new(&relay, "region").signer();
    // Small envelopes (one chunk, spooled in memory) and large ones (two or three chunks, spooled
    // to a file), so the kill can land in any phase of an upload.
    let work: Vec<Vec<(EnvelopeId, Vec<u8>, &'static str)>> = (0..THREADS)
        .map(|t| {
            (0..PER_THREAD)
                .map(|i| {
                    let sender = if (t + i) % 2 == 0 { "municipality" } else { "region" };
                    let (signer, to) = if sender == "municipality" {
                        (&kommun, &fx.region_key)
                    } else {
                        (&region, &fx.kommun_key)
                    };
                    let size = match (i + t) % 4 {
                        0 => 1_500_000 + usize::from(random16()[0]) * 1000,
                        1 => 2_500_000,
                        _ => 20_000 + i * 7_000,
                    };
                    let (id, bytes) = fx.envelope(signer, to, size);
                    (id, bytes, sender)
                })
                .collect()
        })
        .collect();

    let pid = relay.pid().expect("the relay runs");
    let acked = AtomicUsize::new(0);
    let killed = AtomicBool::new(false);
    let attempts: Mutex<Vec<Attempt>> = Mutex::new(Vec::new());
    let started = Instant::now();
    thread::scope(|s| {
        for list in &work {
            let (relay, acked, killed, attempts) = (&relay, &acked, &killed, &attempts);
            s.spawn(move || {
                for (id, bytes, sender) in list {
                    if killed.load(Ordering::SeqCst) {
                        break;
                    }
                    let a = Api::new(relay, sender).put_envelope(id.as_str(), bytes);
                    if a.status == 201 {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    attempts.lock().unwrap().push(Attempt {
                        id: id.clone(),
                        bytes: bytes.clone(),
                        sender,
                        status: a.status,
                    });
                }
            });
        }
        // Kill once some uploads are acknowledged and while the others are in flight.
        while acked.load(Ordering::SeqCst) < THREADS * 2 && started.elapsed() < Duration::from_secs(60) {
            thread::sleep(Duration::from_millis(5));
        }
        thread::sleep(Duration::from_millis(u64::from(random16()[0]) % 150));
        sigkill(pid);
        killed.store(true, Ordering::SeqCst);
    });
    relay.kill9();
    let attempts = attempts.into_inner().unwrap();
    let acked: Vec<&Attempt> = attempts.iter().filter(|a| a.status == 201).collect();
    let unacked: Vec<&Attempt> = attempts.iter().filter(|a| a.status != 201).collect();
    eprintln!(
        "{backend:?}: killed after {:?}: {} uploads acknowledged, {} cut off",
        started.elapsed(),
        acked.len(),
        unacked.len()
    );
    assert!(acked.len() >= THREADS * 2, "too few uploads were acknowledged before the kill");
    assert!(!unacked.is_empty(), "the kill came after every upload; nothing was in flight");
    for a in &unacked {
        // A relay that is killed answers nothing: no error status, just a broken connection.
        assert_eq!(a.status, 0, "upload {} got {} before the kill", a.id, a.status);
    }

    // Restart on the same database: the relay verifies its access log before it serves.
    relay.start_again();
    assert!(relay.log().contains("access log verified"), "{}", relay.log());

    let stored = assert_no_envelope_half_stored(&relay);
    assert!(stored >= acked.len(), "{stored} envelopes stored, {} acknowledged", acked.len());
    let known: HashMap<&str, &Attempt> = attempts.iter().map(|a| (a.id.as_str(), a)).collect();
    let ids = relay.query("SELECT id FROM envelopes");
    for row in &ids {
        let id = row[0].as_deref().unwrap();
        assert!(known.contains_key(id), "an envelope {id} nobody sent");
    }
    for a in &acked {
        assert!(ids.iter().any(|r| r[0].as_deref() == Some(a.id.as_str())), "acknowledged {} is gone", a.id);
        assert_fetches_intact(&Api::new(&relay, recipient(a.sender)), &a.id, &a.bytes);
    }
    // Every stored envelope has its access-log entry: no action without its entry.
    let log = relay.access_log();
    for row in &ids {
        let id = row[0].as_deref();
        assert!(
            log.iter().any(|r| r.action == Action::EnvelopeUpload.code()
                && r.allowed
                && r.envelope_id.as_deref() == id),
            "envelope {id:?} is stored without an allowed upload in the access log"
        );
    }
    // The uploads that were cut off: the client retries, as the client program does; each is then
    // stored once (201), or was stored before the kill and is answered as a duplicate (200).
    let mut committed_unacked = 0;
    for a in &unacked {
        let r = Api::new(&relay, a.sender).put_envelope(a.id.as_str(), &a.bytes);
        match r.status {
            201 => {}
            200 => {
                assert_eq!(r.json()["duplicate"], true);
                committed_unacked += 1;
            }
            other => {
                panic!(
                    "retry of {} after the restart: {other} {}\nrelay log:\n{}",
                    a.id,
                    String::from_utf8_lossy(&r.body),
                    relay.log()
                )
            }
        }
        assert_fetches_intact(&Api::new(&relay, recipient(a.sender)), &a.id, &a.bytes);
    }
    eprintln!("{backend:?}: {committed_unacked} cut-off uploads had been committed before the kill");
    assert_eq!(assert_no_envelope_half_stored(&relay), attempts.len());
    assert_log_verifies(&relay);
}

fn a_second_kill_during_log_writes_leaves_a_log_that_verifies(backend: Backend) {
    // Killing the relay while it answers many small requests (each appending to the access log,
    // and the checkpoint signer running) must not leave a gap, a torn entry or a bad checkpoint.
    let Some(mut relay) = TestRelay::start(backend) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    let _fx = Fixture::new(&relay);
    let pid = relay.pid().expect("the relay runs");
    let killed = AtomicBool::new(false);
    let answered = AtomicUsize::new(0);
    thread::scope(|s| {
        for profile in ["municipality", "region", "school", "municipality"] {
            let (relay, killed, answered) = (&relay, &killed, &answered);
            s.spawn(move || {
                let api = Api::new(relay, profile);
                while !killed.load(Ordering::SeqCst) {
                    if api.get("/v1/inbox").status == 200 {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        let started = Instant::now();
        while answered.load(Ordering::SeqCst) < 30 && started.elapsed() < Duration::from_secs(60) {
            thread::sleep(Duration::from_millis(5));
        }
        sigkill(pid);
        killed.store(true, Ordering::SeqCst);
    });
    relay.kill9();
    let before = relay.access_log().len();
    assert!(answered.load(Ordering::SeqCst) <= before, "answers that are not in the log");
    relay.start_again();
    let log = relay.access_log();
    assert!(log.iter().enumerate().all(|(i, r)| r.idx == i as u64), "the access log has a gap");
    assert_log_verifies(&relay);
}

fn a_retry_of_a_large_stored_envelope_is_answered(backend: Backend) {
    // What a client does when the relay died after committing but before answering: it sends
    // the whole envelope again. The relay answers "duplicate" before reading the body; it must
    // still read it, or the client sees a reset connection instead of the answer.
    let Some(relay) = TestRelay::start(backend) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    let fx = Fixture::new(&relay);
    let kommun = Api::new(&relay, "municipality");
    let (id, bytes) = fx.envelope(&kommun.signer(), &fx.region_key, 3_000_000);
    assert_eq!(kommun.put_envelope(id.as_str(), &bytes).status, 201);
    let again = kommun.put_envelope(id.as_str(), &bytes);
    assert_eq!(again.status, 200, "{}", String::from_utf8_lossy(&again.body));
    assert_eq!(again.json()["duplicate"], true);
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

on_both_backends!(
    acknowledged_uploads_survive_kill_9,
    a_retry_of_a_large_stored_envelope_is_answered,
    a_second_kill_during_log_writes_leaves_a_log_that_verifies
);
