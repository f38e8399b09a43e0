//! The payload cipher: AES-256-GCM in fixed-size chunks, the STREAM construction (Hoang, Reyhanitabar,
//! Rogaway, Vizár 2015) as the age format uses it. `docs/spec/envelope-v1.md` §5.
//!
//! - The plaintext is cut into chunks of [`CHUNK_SIZE`] bytes; the last chunk holds the rest, 1 to
//!   [`CHUNK_SIZE`] bytes (0 only if the whole plaintext is empty).
//! - Chunk `i` is sealed with the nonce `I2OSP(i, 11) || last`, where `last` is `0x01` for the final
//!   chunk and `0x00` otherwise, and no associated data. Each sealed chunk is the ciphertext followed
//!   by the 16-byte tag.
//!
//! The counter stops reordering, duplication and dropping of chunks; the last-chunk flag stops
//! truncation at a chunk boundary. Memory use is one chunk, whatever the payload size.

use std::io::{self, Read, Write};

use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    digest,
};

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Bytes per full sealed chunk.
pub const SEALED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_LEN;

/// Why a STREAM ciphertext was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// A chunk did not authenticate: it was changed, reordered, duplicated or dropped.
    #[error("chunk {index} failed authentication (changed, reordered, duplicated or dropped)")]
    ChunkAuthentication {
        /// The zero-based chunk index.
        index: u64,
    },
    /// The input ended before the announced ciphertext length.
    #[error("the ciphertext is truncated")]
    Truncated,
    /// The announced ciphertext length cannot be a STREAM ciphertext (e.g. a last chunk shorter than a tag).
    #[error("the ciphertext length {0} is impossible for this format")]
    ImpossibleLength(u64),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    // I2OSP(counter, 11): the top three bytes stay zero, a u64 counter never wraps in practice.
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

fn key(k: &[u8; 32]) -> LessSafeKey {
    // A 32-byte key is exactly AES-256-GCM's key length.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).unwrap_or_else(|_| unreachable!("32-byte key")))
}

/// Encrypts a plaintext written to it, sealing chunks into `out` as they fill.
///
/// A full chunk is held back until more plaintext arrives, because only then is it known not to be
/// the last one; [`StreamEncryptor::finish`] seals what is left as the last chunk.
pub struct StreamEncryptor<W: Write> {
    key: LessSafeKey,
    counter: u64,
    buf: Vec<u8>,
    out: W,
    written: u64,
}

impl<W: Write> core::fmt::Debug for StreamEncryptor<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamEncryptor").field("counter", &self.counter).finish_non_exhaustive()
    }
}

impl<W: Write> StreamEncryptor<W> {
    /// Starts a stream under `payload_key`, which must never be used for another stream.
    pub fn new(payload_key: &[u8; 32], out: W) -> Self {
        StreamEncryptor {
            key: key(payload_key),
            counter: 0,
            buf: Vec::with_capacity(SEALED_CHUNK_SIZE),
            out,
            written: 0,
        }
    }

    fn seal_buffered(&mut self, last: bool) -> io::Result<()> {
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(self.counter, last), Aad::empty(), &mut self.buf)
            .map_err(|_| io::Error::other("AES-GCM refused to seal a chunk"))?;
        self.buf.extend_from_slice(tag.as_ref());
        self.out.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        self.counter += 1;
        Ok(())
    }

    /// Seals the last chunk and returns the output and the number of ciphertext bytes written.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.seal_buffered(true)?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

impl<W: Write> Write for StreamEncryptor<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            if self.buf.len() == CHUNK_SIZE {
                // More plaintext follows, so the held-back full chunk is not the last.
                self.seal_buffered(false)?;
            }
            let take = (CHUNK_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Decrypts a STREAM ciphertext of known length, chunk by chunk.
///
/// The length comes from the signed envelope header, so the position of the last chunk is known
/// without reading ahead; a shorter input is [`StreamError::Truncated`].
pub struct StreamDecryptor<R: Read> {
    key: LessSafeKey,
    counter: u64,
    remaining: u64,
    buf: Vec<u8>,
    input: R,
    /// SHA-256 over the sealed chunks as read, when asked for (the envelope header signs it).
    ciphertext_digest: Option<digest::Context>,
    /// Plaintext bytes at the start of `buf` after the last `advance`.
    plain_len: usize,
}

impl<R: Read> core::fmt::Debug for StreamDecryptor<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamDecryptor")
            .field("counter", &self.counter)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl<R: Read> StreamDecryptor<R> {
    /// Starts decrypting `ciphertext_len` bytes of `input` under `payload_key`.
    pub fn new(payload_key: &[u8; 32], ciphertext_len: u64, input: R) -> Result<Self, StreamError> {
        let full = SEALED_CHUNK_SIZE as u64;
        let last = match ciphertext_len % full {
            0 if ciphertext_len > 0 => full,
            r => r,
        };
        if last < TAG_LEN as u64 || (last == TAG_LEN as u64 && ciphertext_len != TAG_LEN as u64) {
            return Err(StreamError::ImpossibleLength(ciphertext_len));
        }
        Ok(StreamDecryptor {
            key: key(payload_key),
            counter: 0,
            remaining: ciphertext_len,
            buf: Vec::with_capacity(SEALED_CHUNK_SIZE),
            input,
            ciphertext_digest: None,
            plain_len: 0,
        })
    }

    /// Also computes SHA-256 over the ciphertext as it is read; see [`Self::ciphertext_sha256`].
    pub fn hashing_ciphertext(mut self) -> Self {
        self.ciphertext_digest = Some(digest::Context::new(&digest::SHA256));
        self
    }

    /// SHA-256 of the whole ciphertext, once the last chunk has been read (with [`Self::hashing_ciphertext`]).
    pub fn ciphertext_sha256(&self) -> Option<[u8; 32]> {
        if self.remaining != 0 {
            return None;
        }
        let d = self.ciphertext_digest.clone()?.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Some(out)
    }

    /// Decrypts the next chunk into [`Self::current`]; `false` after the last one.
    pub fn advance(&mut self) -> Result<bool, StreamError> {
        self.plain_len = 0;
        if self.remaining == 0 {
            return Ok(false);
        }
        let size = self.remaining.min(SEALED_CHUNK_SIZE as u64) as usize;
        let last = self.remaining == size as u64;
        self.buf.resize(size, 0);
        read_exact_or_truncated(&mut self.input, &mut self.buf)?;
        if let Some(d) = self.ciphertext_digest.as_mut() {
            d.update(&self.buf);
        }
        let index = self.counter;
        self.plain_len = self
            .key
            .open_in_place(nonce(index, last), Aad::empty(), &mut self.buf)
            .map_err(|_| StreamError::ChunkAuthentication { index })?
            .len();
        self.remaining -= size as u64;
        self.counter += 1;
        Ok(true)
    }

    /// The plaintext of the chunk last decrypted by [`Self::advance`].
    pub fn current(&self) -> &[u8] {
        &self.buf[..self.plain_len]
    }

    /// The next plaintext chunk, or `None` after the last one.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, StreamError> {
        Ok(if self.advance()? { Some(self.current()) } else { None })
    }

    /// The underlying reader, for checking what follows the ciphertext.
    pub fn input_mut(&mut self) -> &mut R {
        &mut self.input
    }

    /// The underlying reader, for checking what follows the ciphertext.
    pub fn into_inner(self) -> R {
        self.input
    }
}

fn read_exact_or_truncated(input: &mut impl Read, buf: &mut [u8]) -> Result<(), StreamError> {
    match input.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(StreamError::Truncated),
        Err(e) => Err(StreamError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(pt: &[u8]) -> Vec<u8> {
        let mut enc = StreamEncryptor::new(&[7; 32], Vec::new());
        // Write in odd pieces to exercise the buffering.
        for piece in pt.chunks(1000) {
            enc.write_all(piece).unwrap();
        }
        let (out, n) = enc.finish().unwrap();
        assert_eq!(n as usize, out.len());
        out
    }

    fn decrypt(ct: &[u8]) -> Result<Vec<u8>, StreamError> {
        let mut dec = StreamDecryptor::new(&[7; 32], ct.len() as u64, ct)?;
        let mut out = Vec::new();
        while let Some(chunk) = dec.next_chunk()? {
            out.extend_from_slice(chunk);
        }
        Ok(out)
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        for len in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 5] {
            let pt: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let ct = encrypt(&pt);
            let chunks = if len == 0 { 1 } else { len.div_ceil(CHUNK_SIZE) };
            assert_eq!(ct.len(), len + chunks * TAG_LEN, "len {len}");
            assert_eq!(decrypt(&ct).unwrap(), pt, "len {len}");
        }
    }

    #[test]
    fn a_full_last_chunk_is_flagged_last() {
        let ct = encrypt(&vec![1; CHUNK_SIZE]);
        // Opening it as a non-last chunk of a longer stream must fail.
        let mut dec = StreamDecryptor::new(&[7; 32], (2 * SEALED_CHUNK_SIZE) as u64, ct.as_slice()).unwrap();
        assert!(matches!(dec.next_chunk(), Err(StreamError::ChunkAuthentication { index: 0 })));
    }

    #[test]
    fn tampering_is_caught() {
        let pt = vec![9u8; 3 * CHUNK_SIZE + 10];
        let ct = encrypt(&pt);
        let c = |i: usize| &ct[i * SEALED_CHUNK_SIZE..((i + 1) * SEALED_CHUNK_SIZE).min(ct.len())];

        let mut flipped = ct.clone();
        flipped[SEALED_CHUNK_SIZE + 5] ^= 1;
        assert!(matches!(decrypt(&flipped), Err(StreamError::ChunkAuthentication { index: 1 })));

        let reordered = [c(0), c(2), c(1), c(3)].concat();
        assert!(matches!(decrypt(&reordered), Err(StreamError::ChunkAuthentication { index: 1 })));

        let duplicated = [c(0), c(0), c(1), c(2), c(3)].concat();
        assert!(matches!(decrypt(&duplicated), Err(StreamError::ChunkAuthentication { index: 1 })));

        let dropped = [c(0), c(2), c(3)].concat();
        assert!(matches!(decrypt(&dropped), Err(StreamError::ChunkAuthentication { index: 1 })));

        // Cut at a chunk boundary and announced as complete: the new last chunk lacks the flag.
        let cut = [c(0), c(1)].concat();
        assert!(matches!(decrypt(&cut), Err(StreamError::ChunkAuthentication { index: 1 })));

        // Announced at full length but shorter.
        let mut dec = StreamDecryptor::new(&[7; 32], ct.len() as u64, &ct[..ct.len() - 3]).unwrap();
        let mut result = Ok(());
        loop {
            match dec.next_chunk() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        assert!(matches!(result, Err(StreamError::Truncated)));
    }

    #[test]
    fn impossible_lengths_are_refused_up_front() {
        for len in [0u64, 15, SEALED_CHUNK_SIZE as u64 + 16, SEALED_CHUNK_SIZE as u64 + 3] {
            assert!(
                matches!(
                    StreamDecryptor::new(&[0; 32], len, io::empty()),
                    Err(StreamError::ImpossibleLength(_))
                ),
                "{len}"
            );
        }
        assert!(StreamDecryptor::new(&[0; 32], 16, io::empty()).is_ok());
    }
}
