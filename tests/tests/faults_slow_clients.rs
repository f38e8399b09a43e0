//! Slow and stalled clients are cut off by the relay's timeouts without hurting other clients.
//!
//! - slowloris: a client with a valid certificate sends its request headers a byte at a time;
//! - a connection that never even starts its TLS handshake;
//! - clients that start downloading a large envelope and stop reading (more of them than the
//!   database pool has connections: a stalled download must not hold one).
//!
//! The relay runs with `idle_timeout_seconds = 2`; meanwhile well-behaved clients are answered
//! quickly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use samordna_tests::{
    api::Api,
    faults::{Fixture, assert_fetches_intact, assert_log_verifies},
    relay::{Backend, TestRelay, set_key},
};

const IDLE: Duration = Duration::from_secs(2);

fn relay() -> TestRelay {
    TestRelay::start_with(Backend::Sqlite, |t| {
        *t = set_key(t, "idle_timeout_seconds", &IDLE.as_secs().to_string());
        *t = set_key(t, "request_timeout_seconds", "120");
    })
    .expect("SQLite needs no server")
}

/// Well-behaved requests while something else goes on: each must be answered within `limit`.
fn assert_others_served(relay: &TestRelay, rounds: usize, limit: Duration) {
    let api = Api::new(relay, "region");
    for _ in 0..rounds {
        let started = Instant::now();
        let a = api.get("/v1/inbox");
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert!(started.elapsed() < limit, "a normal request took {:?}", started.elapsed());
        thread::sleep(Duration::from_millis(200));
    }
}

/// Waits up to `limit` for `child` to exit; returns how long it ran, or kills it and panics.
fn exits_within(child: &mut Child, started: Instant, limit: Duration, what: &str) -> Duration {
    while started.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return started.elapsed();
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{what} was still connected after {limit:?}");
}

#[test]
fn slowloris_is_cut_off_and_others_are_served() {
    if Command::new("openssl").arg("version").output().is_err() {
        return samordna_tests::faults::skip("openssl is not installed");
    }
    let relay = relay();
    let profile = relay.profile("municipality");
    let mut lorises: Vec<(Child, Instant)> = (0..5)
        .map(|_| {
            let child = Command::new("openssl")
                .args(["s_client", "-quiet", "-servername", "localhost", "-connect"])
                .arg(format!("127.0.0.1:{}", relay.port))
                .arg("-cert")
                .arg(profile.join("cert.pem"))
                .arg("-key")
                .arg(profile.join("key.pem"))
                .arg("-CAfile")
                .arg(profile.join("root-ca.pem"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("openssl s_client");
            (child, Instant::now())
        })
        .collect();
    // A byte at a time, never finishing the headers.
    let header = b"GET /v1/inbox HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let writers: Vec<_> = lorises
        .iter_mut()
        .map(|(child, _)| {
            let mut stdin = child.stdin.take().unwrap();
            thread::spawn(move || {
                for b in header {
                    if stdin.write_all(&[*b]).and_then(|()| stdin.flush()).is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(300));
                }
                // Keep stdin open (s_client ends when it closes) until the relay hangs up.
                thread::sleep(Duration::from_secs(30));
            })
        })
        .collect();
    // Meanwhile, others are served at once.
    assert_others_served(&relay, 5, Duration::from_secs(3));
    for (child, started) in &mut lorises {
        // Handshake, then at most IDLE for the headers; never the 60 × 0.3 s the headers would take.
        let ran = exits_within(child, *started, IDLE * 4 + Duration::from_secs(4), "a slowloris client");
        assert!(ran >= IDLE - Duration::from_millis(300), "cut off before the idle time: {ran:?}");
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        assert!(!String::from_utf8_lossy(&out).contains("200 OK"), "the slowloris request was served");
    }
    drop(writers);
    assert_others_served(&relay, 2, Duration::from_secs(3));
}

#[test]
fn a_connection_that_never_handshakes_is_closed() {
    let relay = relay();
    let started = Instant::now();
    let mut idle: Vec<TcpStream> =
        (0..50).map(|_| TcpStream::connect(("127.0.0.1", relay.port)).expect("connect")).collect();
    assert_others_served(&relay, 3, Duration::from_secs(3));
    for s in &mut idle {
        s.set_read_timeout(Some(IDLE * 3 + Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a silent connection was not closed: {other:?} after {:?}", started.elapsed()),
        }
    }
    assert!(started.elapsed() >= IDLE - Duration::from_millis(300));
}

#[test]
fn clients_that_stop_reading_a_download_are_cut_off_and_hold_nothing() {
    let relay = relay();
    let fx = Fixture::new(&relay);
    let kommun = Api::new(&relay, "municipality");
    let region = Api::new(&relay, "region");
    // Larger than what the kernel's socket buffers and the client can take in without reading.
    let size = 48 << 20;
    let (id, bytes) = fx.envelope(&kommun.signer(), &fx.region_key, size);
    let a = kommun.put_envelope(id.as_str(), &bytes);
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let (small_id, small) = fx.envelope(&kommun.signer(), &fx.region_key, 10_000);
    assert_eq!(kommun.put_envelope(small_id.as_str(), &small).status, 201);

    // More stalled downloads than the SQLite pool has connections (8). curl writes the body to a
    // pipe nobody reads: once the pipe is full curl stops reading the socket.
    let profile = relay.profile("region");
    let started = Instant::now();
    let mut stalled: Vec<Child> = (0..10)
        .map(|_| {
            Command::new("curl")
                .args(["--silent", "--show-error", "--max-time", "90", "--cacert"])
                .arg(profile.join("root-ca.pem"))
                .arg("--cert")
                .arg(profile.join("cert.pem"))
                .arg("--key")
                .arg(profile.join("key.pem"))
                .arg(format!("{}/v1/envelopes/{id}", relay.url()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("curl")
        })
        .collect();
    thread::sleep(Duration::from_secs(1));
    // Others are served while the downloads are stalled, small fetches included.
    assert_others_served(&relay, 3, Duration::from_secs(3));
    assert_fetches_intact(&region, &small_id, &small);

    // The relay gives up on them within its idle time (allow for the time they took to stall).
    let deadline = started + IDLE * 3 + Duration::from_secs(10);
    while relay.log().matches("a client stopped reading").count() < stalled.len() && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(100));
    }
    let cut = relay.log().matches("a client stopped reading").count();
    assert_eq!(cut, stalled.len(), "only {cut} of {} stalled downloads were cut off", stalled.len());

    // Now the clients read what they had: a true prefix of the envelope, and an error, not a body.
    for child in &mut stalled {
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "curl got the whole envelope from a stalled download");
        assert!(out.len() < bytes.len(), "the whole envelope arrived");
        assert!(out == bytes[..out.len()], "the part that arrived is not a prefix of the envelope");
    }
    // A client that reads gets the whole large envelope.
    assert_fetches_intact(&region, &id, &bytes);
    assert_others_served(&relay, 2, Duration::from_secs(3));
    assert_log_verifies(&relay);
}
