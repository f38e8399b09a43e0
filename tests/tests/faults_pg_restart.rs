//! PostgreSQL stopped and started again under load, on a private server (the shared test server
//! must stay up for the other tests).
//!
//! While the database is down the relay answers quickly and clearly: 503 with the code
//! `unavailable` and a sentence, never a hang and never another error. When the database is back
//! the same relay process serves again without a restart; what it acknowledged is stored whole,
//! and the access log verifies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use samordna_core::EnvelopeId;
use samordna_tests::{
    api::Api,
    faults::{Fixture, assert_fetches_intact, assert_log_verifies, assert_no_envelope_half_stored, skip},
    pgcluster::PgCluster,
    relay::TestRelay,
};

/// The longest a request may take while the database is down: the relay's pool gives up after
/// 5 s, plus TLS and process start-up of the test's curl.
const QUICK: Duration = Duration::from_secs(9);

#[derive(Debug)]
struct Sample {
    /// When the request started, from the test's start.
    at: Duration,
    took: Duration,
    status: u16,
    code: String,
    message: String,
}

fn sample(started: Instant, at: Instant, a: &samordna_tests::api::Answer) -> Sample {
    let json: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
    Sample {
        at: at - started,
        took: at.elapsed(),
        status: a.status,
        code: json["error"]["code"].as_str().unwrap_or_default().to_owned(),
        message: json["error"]["message"].as_str().unwrap_or_default().to_owned(),
    }
}

#[test]
fn relay_answers_503_while_postgresql_restarts_and_recovers_without_restart() {
    let mut cluster = match PgCluster::start() {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    let relay = TestRelay::start_on(Some(cluster.url()), |_| {});
    let fx = Fixture::new(&relay);
    let kommun = Api::new(&relay, "municipality");
    let signer = kommun.signer();
    let (first_id, first) = fx.envelope(&signer, &fx.region_key, 50_000);
    assert_eq!(kommun.put_envelope(first_id.as_str(), &first).status, 201);
    let pid = relay.pid().expect("the relay runs");

    let uploads: Vec<(EnvelopeId, Vec<u8>)> =
        (0..60).map(|i| fx.envelope(&signer, &fx.region_key, 10_000 + i * 3_000)).collect();
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let reads: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
    let writes: Mutex<Vec<(Sample, usize)>> = Mutex::new(Vec::new());
    let (mut down_at, mut stopped_at, mut up_at) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    thread::scope(|s| {
        for profile in ["region", "municipality", "region", "school"] {
            let (relay, done, reads) = (&relay, &done, &reads);
            s.spawn(move || {
                let api = Api::new(relay, profile);
                while !done.load(Ordering::SeqCst) {
                    let at = Instant::now();
                    let a = api.get("/v1/inbox");
                    reads.lock().unwrap().push(sample(started, at, &a));
                    thread::sleep(Duration::from_millis(50));
                }
            });
        }
        {
            let (relay, done, writes, uploads) = (&relay, &done, &writes, &uploads);
            s.spawn(move || {
                let api = Api::new(relay, "municipality");
                for (i, (id, bytes)) in uploads.iter().enumerate() {
                    if done.load(Ordering::SeqCst) {
                        break;
                    }
                    let at = Instant::now();
                    let a = api.put_envelope(id.as_str(), bytes);
                    writes.lock().unwrap().push((sample(started, at, &a), i));
                    thread::sleep(Duration::from_millis(50));
                }
            });
        }
        thread::sleep(Duration::from_secs(1));
        down_at = started.elapsed();
        cluster.stop_server("fast");
        stopped_at = started.elapsed();
        // Long enough for every client to start a request after the stop and hear its 503.
        thread::sleep(Duration::from_secs(12));
        up_at = started.elapsed();
        cluster.start_server().expect("start PostgreSQL again");
        thread::sleep(Duration::from_secs(6));
        done.store(true, Ordering::SeqCst);
    });
    let reads = reads.into_inner().unwrap();
    let writes = writes.into_inner().unwrap();
    eprintln!("PostgreSQL stopping at {down_at:?}, stopped at {stopped_at:?}, starting at {up_at:?}");
    for s in reads.iter().chain(writes.iter().map(|(s, _)| s)) {
        eprintln!("  {:>6.2}s +{:>5.2}s {} {}", s.at.as_secs_f64(), s.took.as_secs_f64(), s.status, s.code);
    }

    // Never a hang, never anything but success or a clear 503.
    for s in reads.iter().chain(writes.iter().map(|(s, _)| s)) {
        assert!(s.took < QUICK, "a request took {:?}: {s:?}", s.took);
        match s.status {
            200 | 201 => {}
            503 => {
                assert_eq!(s.code, "unavailable", "{s:?}");
                assert!(s.message.contains("database") && s.message.contains("try again"), "{s:?}");
            }
            _ => panic!("unexpected answer while PostgreSQL restarted: {s:?}"),
        }
    }
    // Requests made while PostgreSQL was certainly down.
    let down = |s: &&Sample| s.at > stopped_at && s.at + s.took < up_at;
    let while_down = reads.iter().chain(writes.iter().map(|(s, _)| s)).filter(down).count();
    assert!(while_down >= 3, "only {while_down} requests while PostgreSQL was down");
    assert!(reads.iter().filter(down).all(|s| s.status == 503), "answers without a database?");
    assert!(writes.iter().map(|(s, _)| s).filter(down).all(|s| s.status == 503));
    // Back without a restart of the relay: every request that started 3 s after PostgreSQL was
    // back succeeded, and there were some.
    assert_eq!(relay.pid(), Some(pid), "the relay was restarted");
    let later: Vec<&Sample> = reads
        .iter()
        .chain(writes.iter().map(|(s, _)| s))
        .filter(|s| s.at > up_at + Duration::from_secs(3))
        .collect();
    assert!(later.len() >= 4, "too few requests after PostgreSQL came back");
    assert!(later.iter().all(|s| matches!(s.status, 200 | 201)), "not recovered: {later:?}");
    assert!(relay.log().contains("storage failure"), "the relay's log does not say what happened");

    // What was acknowledged is stored whole; what was refused can be sent again.
    let region = Api::new(&relay, "region");
    assert_fetches_intact(&region, &first_id, &first);
    for (s, i) in &writes {
        let (id, bytes) = &uploads[*i];
        if s.status == 503 {
            let again = kommun.put_envelope(id.as_str(), bytes);
            assert!(matches!(again.status, 200 | 201), "{}", String::from_utf8_lossy(&again.body));
        }
        assert_fetches_intact(&region, id, bytes);
    }
    assert_eq!(assert_no_envelope_half_stored(&relay), writes.len() + 1);
    assert_log_verifies(&relay);
}
