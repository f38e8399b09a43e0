//! Replays the fuzz corpora and every crash the fuzzers found (`docs/fuzzing.md`) on stable: each
//! file under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the same
//! function the cargo-fuzz target calls (`fuzz/src/targets.rs`, compiled into this test), which must
//! not panic.

#[path = "../../fuzz/src/targets.rs"]
#[allow(dead_code)]
mod targets;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Feeds every corpus and regression file of `target` to `body`; returns how many there were.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = entries.map(|e| e.expect("directory entry").path()).collect();
        files.sort();
        for file in files.iter().filter(|p| p.is_file()) {
            let data = std::fs::read(file).expect("readable corpus file");
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "{target} panicked on {}", file.display());
            count += 1;
        }
    }
    count
}

macro_rules! corpus_tests {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                let n = replay(stringify!($target), targets::$target);
                assert!(n > 0, "no corpus for {}", stringify!($target));
            }
        )*
    };
}

corpus_tests!(
    envelope_header,
    envelope_open,
    cms_signed_data,
    certificate,
    checkpoint,
    merkle_proof,
    log_entry,
    consent,
    json_bodies,
    plan,
);
