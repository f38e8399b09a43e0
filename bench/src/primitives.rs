//! The single-core limit of the primitives an envelope spends its bytes on: ring's AES-256-GCM
//! over 64 KiB chunks (the STREAM chunk size) and ring's SHA-256 over the same bytes.
//!
//! Sealing hashes the document (for its signature), encrypts it and hashes the ciphertext (for
//! the header signature); opening hashes the ciphertext, decrypts it and hashes the document.
//! Both paths are timed here as exactly that per-chunk work and nothing else: each chunk is first
//! copied into a scratch buffer outside the timer, as a `read()` would leave it, so that the figure
//! is crypto on warm data with no I/O and no extra copies. It is the ceiling one core can reach.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow};
use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    digest,
};

use crate::{
    measure::{PayloadBytes, Throughput, digest32},
    size::MIB,
};

const CHUNK: usize = samordna_core::stream::CHUNK_SIZE;
const TAG: usize = samordna_core::stream::TAG_LEN;
/// At most this much of the payload is held in memory (more than the caches); it is cycled through.
const WINDOW_MAX: u64 = 64 * MIB;
/// Bytes pushed through each primitive per repetition: enough for a stable figure at any payload size.
const TOTAL: u64 = 256 * MIB;

/// Primitive throughput on one core.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of payload held in memory and cycled through.
    pub window: u64,
    /// Bytes per repetition.
    pub total: u64,
    /// Repetitions behind each figure.
    pub reps: usize,
    pub aes_gcm_seal: Throughput,
    pub sha256: Throughput,
    /// SHA-256(plaintext) + AES-256-GCM seal + SHA-256(ciphertext and tag), per chunk.
    pub seal_path: Throughput,
    /// SHA-256(ciphertext and tag) + AES-256-GCM open + SHA-256(plaintext), per chunk.
    pub open_path: Throughput,
}

/// The timed repetitions, kept apart so that rounds measured at different moments (before and after
/// the file runs, to even out other load on the machine) can be pooled.
#[derive(Debug, Default)]
pub struct Samples {
    window: u64,
    aes_gcm_seal: Vec<Duration>,
    sha256: Vec<Duration>,
    seal_path: Vec<Duration>,
    open_path: Vec<Duration>,
}

impl Samples {
    pub fn limits(&self) -> Limits {
        let t = |s: &[Duration]| Throughput::from_samples(TOTAL, s);
        Limits {
            window: self.window,
            total: TOTAL,
            reps: self.seal_path.len(),
            aes_gcm_seal: t(&self.aes_gcm_seal),
            sha256: t(&self.sha256),
            seal_path: t(&self.seal_path),
            open_path: t(&self.open_path),
        }
    }
}

/// The STREAM nonce for chunk `i` (without the last-chunk flag). Cycling through the window reuses
/// nonces; harmless here, where the key is random, thrown away and protects nothing.
fn nonce(i: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&i.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn random_key() -> Result<LessSafeKey> {
    let mut k = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut k)
        .map_err(|_| anyhow!("the system's random source failed"))?;
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &k).map_err(|_| anyhow!("AES-256-GCM key"))?))
}

/// Pushes [`TOTAL`] plaintext bytes' worth of `window` (cut into `stride`-byte pieces, cycled)
/// through `op`; returns the time spent inside `op` only.
fn run(
    window: &[u8],
    stride: usize,
    overhead: usize,
    mut op: impl FnMut(u64, &mut [u8]) -> Result<()>,
) -> Result<Duration> {
    let mut scratch = Vec::with_capacity(stride);
    let mut in_op = Duration::ZERO;
    let mut done = 0u64;
    while done < TOTAL {
        for (i, piece) in window.chunks(stride).enumerate() {
            scratch.clear();
            scratch.extend_from_slice(piece);
            let start = Instant::now();
            op(i as u64, &mut scratch)?;
            in_op += start.elapsed();
            done += (piece.len() - overhead) as u64;
            if done >= TOTAL {
                break;
            }
        }
    }
    Ok(in_op)
}

fn repeat(reps: u32, into: &mut Vec<Duration>, mut f: impl FnMut() -> Result<Duration>) -> Result<()> {
    for _ in 0..reps {
        into.push(f()?);
    }
    Ok(())
}

/// Adds `reps` repetitions of each measurement to `samples`, over the first `window` bytes of the
/// payload (the same bytes the payload files start with), generated in memory.
pub fn measure(window: u64, reps: u32, samples: &mut Samples) -> Result<()> {
    let window = PayloadBytes::prefix(window.min(WINDOW_MAX) as usize);
    samples.window = window.len() as u64;
    let key = random_key()?;
    let seal_err = |_| anyhow!("AES-GCM refused to seal a chunk");

    repeat(reps, &mut samples.aes_gcm_seal, || {
        run(&window, CHUNK, 0, |i, buf| {
            let tag = key.seal_in_place_separate_tag(nonce(i), Aad::empty(), buf).map_err(seal_err)?;
            black_box(&tag);
            Ok(())
        })
    })?;

    repeat(reps, &mut samples.sha256, || {
        let mut d = digest::Context::new(&digest::SHA256);
        let t = run(&window, CHUNK, 0, |_, buf| {
            d.update(buf);
            Ok(())
        })?;
        black_box(digest32(d));
        Ok(t)
    })?;

    repeat(reps, &mut samples.seal_path, || {
        let (mut doc, mut ct) =
            (digest::Context::new(&digest::SHA256), digest::Context::new(&digest::SHA256));
        let t = run(&window, CHUNK, 0, |i, buf| {
            doc.update(buf);
            let tag = key.seal_in_place_separate_tag(nonce(i), Aad::empty(), buf).map_err(seal_err)?;
            ct.update(buf);
            ct.update(tag.as_ref());
            Ok(())
        })?;
        black_box((digest32(doc), digest32(ct)));
        Ok(t)
    })?;

    // Opening needs real ciphertext: seal the window once, chunk i under nonce i.
    let mut sealed = Vec::with_capacity(window.len() + window.len().div_ceil(CHUNK) * TAG);
    for (i, piece) in window.chunks(CHUNK).enumerate() {
        let start = sealed.len();
        sealed.extend_from_slice(piece);
        let tag = key
            .seal_in_place_separate_tag(nonce(i as u64), Aad::empty(), &mut sealed[start..])
            .map_err(seal_err)?;
        sealed.extend_from_slice(tag.as_ref());
    }
    repeat(reps, &mut samples.open_path, || {
        let (mut ct, mut doc) =
            (digest::Context::new(&digest::SHA256), digest::Context::new(&digest::SHA256));
        let t = run(&sealed, CHUNK + TAG, TAG, |i, buf| {
            ct.update(buf);
            let plain = key
                .open_in_place(nonce(i), Aad::empty(), buf)
                .map_err(|_| anyhow!("AES-GCM refused a chunk it sealed"))?;
            doc.update(plain);
            Ok(())
        })?;
        black_box((digest32(ct), digest32(doc)));
        Ok(t)
    })?;

    Ok(())
}
