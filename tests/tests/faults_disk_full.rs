//! The disk under the relay's SQLite database (and its spool directory) fills up.
//!
//! Uploads are refused with a clear error (503 `unavailable`, "the relay's disk is full"), both
//! when the database cannot grow and when the spool file for a large upload cannot; what was
//! stored before stays intact (fetched byte for byte, `PRAGMA integrity_check`); and once space is
//! freed the same relay process accepts uploads again.
//!
//! Needs root (to mount a small tmpfs); skipped otherwise unless `SAMORDNA_REQUIRE_TEST_TOOLS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

use samordna_tests::{
    api::{Answer, Api},
    faults::{Fixture, assert_fetches_intact, assert_log_verifies, assert_no_envelope_half_stored, skip},
    relay::{Backend, TestRelay, set_key},
};

/// A mounted tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: still detached if a panic left the relay running on it.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system at `dir` to the last byte.
fn fill(path: &Path) {
    let mut f = fs::File::create(path).unwrap();
    for size in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
        let block = vec![0xA5u8; size];
        while f.write_all(&block).is_ok() {}
    }
    let _ = f.sync_all();
}

fn assert_disk_full(relay: &TestRelay, a: &Answer, what: &str) {
    assert_eq!(a.status, 503, "{what}: {}\n{}", String::from_utf8_lossy(&a.body), relay.log());
    assert_eq!(a.code(), "unavailable", "{what}");
    let message = a.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("disk is full") && message.contains("nothing was stored"),
        "{what}: {message}\nrelay log:\n{}",
        relay.log()
    );
}

fn integrity_ok(relay: &TestRelay) {
    let r = relay.query("PRAGMA integrity_check");
    assert_eq!(r[0][0].as_deref(), Some("ok"), "{r:?}");
}

#[test]
fn a_full_disk_refuses_uploads_clearly_damages_nothing_and_recovers() {
    let mut relay = TestRelay::start(Backend::Sqlite).expect("SQLite needs no server");
    // Move the database to a small file system of its own, with the spool directory (TMPDIR).
    relay.stop();
    let mnt = relay.fed.join("relay/data");
    let _tmpfs = match Tmpfs::mount(&mnt, "12m") {
        Ok(t) => t,
        Err(why) => return skip(&why),
    };
    let db = mnt.join("relay.db");
    for suffix in ["", "-wal", "-shm"] {
        let from = relay.fed.join(format!("relay/relay.db{suffix}"));
        if from.exists() {
            fs::copy(&from, mnt.join(format!("relay.db{suffix}"))).unwrap();
            fs::remove_file(&from).unwrap();
        }
    }
    fs::create_dir(mnt.join("tmp")).unwrap();
    let config = relay.fed.join("relay/relay.toml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, set_key(&text, "database", &format!("\"sqlite:{}\"", db.display()))).unwrap();
    relay.db_url = format!("sqlite://{}", db.display());
    relay.env.push(("TMPDIR".into(), mnt.join("tmp").display().to_string()));
    relay.start_again();
    let pid = relay.pid();

    let fx = Fixture::new(&relay);
    let kommun = Api::new(&relay, "municipality");
    let region = Api::new(&relay, "region");
    let signer = kommun.signer();
    // Stored before: a small envelope and a two-chunk one.
    let before: Vec<_> =
        [200_000, 1_500_000].iter().map(|&n| fx.envelope(&signer, &fx.region_key, n)).collect();
    for (id, bytes) in &before {
        let a = kommun.put_envelope(id.as_str(), bytes);
        assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    }
    assert_fetches_intact(&region, &before[0].0, &before[0].1);

    let filler = mnt.join("filler");
    fill(&filler);
    // One that the database cannot take (spooled in memory) and one whose spool file cannot be written.
    let small = fx.envelope(&signer, &fx.region_key, 600_000);
    let large = fx.envelope(&signer, &fx.region_key, 3_000_000);
    assert_disk_full(
        &relay,
        &kommun.put_envelope(small.0.as_str(), &small.1),
        "an upload the database cannot hold",
    );
    assert_disk_full(
        &relay,
        &kommun.put_envelope(large.0.as_str(), &large.1),
        "an upload the spool cannot hold",
    );
    assert!(relay.log().contains("disk is full"), "the relay's log does not say the disk is full");
    // Reading still works or is refused as clearly; it never returns damaged bytes.
    let a = region.get(&format!("/v1/envelopes/{}", before[1].0));
    match a.status {
        200 => assert!(a.body == before[1].1, "damaged bytes while the disk was full"),
        _ => assert_disk_full(&relay, &a, "a fetch while the disk is full"),
    }
    assert_eq!(relay.pid(), pid, "the relay stopped");
    integrity_ok(&relay);
    assert_eq!(relay.query("SELECT COUNT(*) FROM envelopes")[0][0].as_deref(), Some("2"));

    // Space returns: the same process takes both uploads, and everything is intact.
    fs::remove_file(&filler).unwrap();
    for (id, bytes) in [&small, &large] {
        let a = kommun.put_envelope(id.as_str(), bytes);
        assert_eq!(a.status, 201, "after space was freed: {}", String::from_utf8_lossy(&a.body));
    }
    for (id, bytes) in before.iter().chain([&small, &large]) {
        assert_fetches_intact(&region, id, bytes);
    }
    assert_eq!(relay.pid(), pid);
    integrity_ok(&relay);
    assert_eq!(assert_no_envelope_half_stored(&relay), 4);
    assert_log_verifies(&relay);
    relay.stop();
}
