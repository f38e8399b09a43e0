//! Timing statistics, the payload file, and the raw file-copy baseline.

use std::{
    fs::File,
    io::{Read, Write},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use ring::digest;

use crate::size::MIB;

/// Buffer size for the file I/O done here: the envelope's chunk size, so that the copy baseline
/// issues the same system calls as sealing and opening.
pub const IO_CHUNK: usize = samordna_core::stream::CHUNK_SIZE;

/// Best and median throughput of several timed repetitions over the same number of bytes.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    /// MiB/s of the fastest repetition.
    pub best: f64,
    /// MiB/s of the median repetition.
    pub median: f64,
}

impl Throughput {
    pub fn from_samples(bytes: u64, samples: &[Duration]) -> Self {
        let mut secs: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
        secs.sort_by(f64::total_cmp);
        let mib = bytes as f64 / MIB as f64;
        let n = secs.len();
        let (best, median) = match n {
            0 => (f64::NAN, f64::NAN),
            _ if n % 2 == 1 => (secs[0], secs[n / 2]),
            _ => (secs[0], (secs[n / 2 - 1] + secs[n / 2]) / 2.0),
        };
        Throughput { best: mib / best, median: mib / median }
    }
}

/// The payload's bytes: splitmix64 from a fixed seed, so every run and every size benchmarks the
/// same bytes (a shorter payload is a prefix of a longer one). Incompressible, though nothing here
/// compresses.
#[derive(Debug)]
pub struct PayloadBytes {
    state: u64,
}

impl PayloadBytes {
    pub fn new() -> Self {
        PayloadBytes { state: 0x5a4d_4f52_444e_4121 }
    }

    /// Fills `buf` with the next bytes; `buf.len()` must be a multiple of 8 except at the very end.
    fn fill(&mut self, buf: &mut [u8]) {
        for word in buf.chunks_mut(8) {
            self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let bytes = (z ^ (z >> 31)).to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
    }

    /// The first `len` bytes, in memory.
    pub fn prefix(len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        PayloadBytes::new().fill(&mut v);
        v
    }
}

/// Writes the first `len` payload bytes to `path`, 1 MiB at a time (never the whole payload in
/// memory), flushes them to disk and returns their SHA-256.
pub fn write_payload(path: &Path, len: u64) -> Result<[u8; 32]> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut bytes = PayloadBytes::new();
    let mut buf = vec![0u8; MIB as usize];
    let mut sha = digest::Context::new(&digest::SHA256);
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        bytes.fill(&mut buf[..n]);
        file.write_all(&buf[..n])?;
        sha.update(&buf[..n]);
        left -= n as u64;
    }
    // On disk before timing starts, so that its writeback does not land in a measurement.
    file.sync_all()?;
    Ok(digest32(sha))
}

/// SHA-256 of a file's contents.
pub fn file_sha256(path: &Path) -> Result<[u8; 32]> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; IO_CHUNK];
    let mut sha = digest::Context::new(&digest::SHA256);
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => sha.update(&buf[..n]),
        }
    }
    Ok(digest32(sha))
}

pub fn digest32(ctx: digest::Context) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Copies `src` to a new file `dst` through a 64 KiB buffer in user space (read, write), timed.
/// Deliberately not `std::fs::copy`, which lets the kernel copy without the data reaching user
/// space: sealing and opening must read every byte into the process.
pub fn copy_file(src: &Path, dst: &Path) -> Result<Duration> {
    let mut input = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let mut output = File::create(dst).with_context(|| format!("creating {}", dst.display()))?;
    let mut buf = vec![0u8; IO_CHUNK];
    let start = Instant::now();
    loop {
        match input.read(&mut buf)? {
            0 => break,
            n => output.write_all(&buf[..n])?,
        }
    }
    output.flush()?;
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primitives_window_is_the_payload_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload");
        let len = MIB as usize + 1001;
        let sha = write_payload(&path, len as u64).unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), len);
        assert_eq!(on_disk, PayloadBytes::prefix(len));
        assert_eq!(&on_disk[..4096], &PayloadBytes::prefix(4096)[..]);
        assert_eq!(sha, file_sha256(&path).unwrap());
    }

    #[test]
    fn best_and_median() {
        let ms = Duration::from_millis;
        let t = Throughput::from_samples(MIB, &[ms(40), ms(10), ms(20), ms(30)]);
        assert!((t.best - 100.0).abs() < 1e-9);
        assert!((t.median - 40.0).abs() < 1e-9);
    }
}
