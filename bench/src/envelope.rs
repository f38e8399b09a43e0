//! Sealing and opening whole files with the core API, as the client does: the document is read
//! from a file, the ciphertext is spooled to a temporary file, the envelope is read back through a
//! `BufReader`. Only the `seal`/`open_to` call is timed; opening and creating files is not.

use std::{
    fs::File,
    io::BufReader,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use samordna_core::envelope;
use time::OffsetDateTime;

use crate::federation::Federation;

/// Seals `input` into the envelope file `output`, spooling to an unnamed file in `spool_dir`.
pub fn seal_file(fed: &Federation, input: &Path, output: &Path, spool_dir: &Path) -> Result<Duration> {
    let document = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let len = document.metadata()?.len();
    let spool = tempfile::tempfile_in(spool_dir).context("creating the spool file")?;
    let out = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let now = OffsetDateTime::now_utc();
    let params = fed.params(now)?;

    let start = Instant::now();
    let sealed = envelope::seal(&params, &fed.sender, document, len, spool, out)?;
    let elapsed = start.elapsed();

    let written = std::fs::metadata(output)?.len();
    ensure!(
        written == sealed.envelope_len(),
        "the envelope file has {written} bytes, not {}",
        sealed.envelope_len()
    );
    Ok(elapsed)
}

/// Opens the envelope file `input` and writes the document to `output`; returns the time and the
/// document length the verified manifest gives.
pub fn open_file(fed: &Federation, input: &Path, output: &Path) -> Result<(Duration, u64)> {
    let envelope_file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let out = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let now = OffsetDateTime::now_utc();

    let start = Instant::now();
    let verified = envelope::open_to(BufReader::new(envelope_file), &fed.keys, &fed.trust, now, out)?;
    let elapsed = start.elapsed();

    Ok((elapsed, verified.manifest.document.length))
}
