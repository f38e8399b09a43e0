//! One large envelope (1 GiB by default) through the relay on SQLite, with the client library's
//! own streaming upload and download (`RelayClient::put_envelope` and `get_envelope`, as
//! `samordna send` and `samordna fetch` use them): time, and the peak memory of the relay process
//! and of this process (the client) during each.

use std::{
    fs::File,
    io::{BufWriter, Read, Write},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use samordna_client::relay::{RelayClient, Upload};
use samordna_core::{
    ContentKind, EnvelopeId,
    envelope::{SealParams, seal_to_parts},
};
use time::OffsetDateTime;

use super::{load::SealFor, procfs};

/// Time and peak memory of one transfer.
#[derive(Clone, Debug)]
pub struct Transfer {
    pub elapsed: Duration,
    pub bytes: u64,
    pub relay_peak_kib: Option<u64>,
    pub client_peak_kib: Option<u64>,
}

/// The large envelope's upload and fetch.
#[derive(Clone, Debug)]
pub struct Large {
    pub payload: u64,
    pub seal: Duration,
    pub upload: Transfer,
    pub fetch: Transfer,
    /// Whether the kernel let the peaks be reset before each transfer (else they are peaks since start).
    pub peaks_reset: bool,
}

/// Seals `payload` bytes to a file in `dir`, then uploads it as the sender and fetches it as the
/// recipient through the relay with process id `relay_pid`.
pub async fn run(
    with: &SealFor<'_>,
    sender: &RelayClient,
    recipient: &RelayClient,
    relay_pid: u32,
    payload: u64,
    dir: &Path,
) -> Result<Large> {
    let params = SealParams {
        envelope_id: EnvelopeId::from_random_bytes(random16()?),
        case_id: with.case_id.clone(),
        consent_id: with.consent_id.clone(),
        content_kind: ContentKind::Attachment,
        recipients: vec![with.recipient.clone()],
        media_type: "application/octet-stream".into(),
        file_name: Some("stor-bilaga.bin".into()),
        created: OffsetDateTime::now_utc(),
    };
    let ciphertext_path = dir.join("large.ciphertext");
    let t = Instant::now();
    // Sealing is CPU work: off the runtime's scheduler, as the client does it.
    let sealed = tokio::task::block_in_place(|| -> Result<_> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&ciphertext_path)?);
        // The document's bytes do not matter to the relay, which sees only ciphertext.
        let document = std::io::repeat(0x5a).take(payload);
        let sealed = seal_to_parts(&params, with.signer, document, payload, &mut out)?;
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(sealed)
    })?;
    let seal = t.elapsed();
    let upload = Upload {
        prefix: sealed.prefix(),
        ciphertext: File::open(&ciphertext_path)?,
        ciphertext_len: sealed.header.ciphertext.length,
    };
    let total = upload.len();
    let relay = relay_pid.to_string();

    let peaks_reset = procfs::reset_peak_rss(&relay) & procfs::reset_peak_rss("self");
    let t = Instant::now();
    let stored =
        sender.put_envelope(&params.envelope_id, &upload).await.context("uploading the large envelope")?;
    let upload_time = t.elapsed();
    ensure!(stored.status == 201, "the large upload was answered {}", stored.status);
    ensure!(stored.value.header_sha256 == sealed.header_sha256(), "the relay acknowledged another envelope");
    let upload = Transfer {
        elapsed: upload_time,
        bytes: total,
        relay_peak_kib: procfs::peak_rss_kib(&relay),
        client_peak_kib: procfs::peak_rss_kib("self"),
    };
    let _ = std::fs::remove_file(&ciphertext_path);

    let fetched_path = dir.join("large.fetched");
    let mut fetched = tokio::fs::File::create(&fetched_path).await?;
    let peaks_reset = peaks_reset & procfs::reset_peak_rss(&relay) & procfs::reset_peak_rss("self");
    let t = Instant::now();
    let got = recipient
        .get_envelope(&params.envelope_id, &mut fetched, &fetched_path)
        .await
        .context("fetching the large envelope")?;
    let fetch_time = t.elapsed();
    let fetch = Transfer {
        elapsed: fetch_time,
        bytes: got.value,
        relay_peak_kib: procfs::peak_rss_kib(&relay),
        client_peak_kib: procfs::peak_rss_kib("self"),
    };
    drop(fetched);
    let _ = std::fs::remove_file(&fetched_path);
    ensure!(got.value == total, "fetched {} bytes of an envelope of {total}", got.value);
    Ok(Large { payload, seal, upload, fetch, peaks_reset })
}

fn random16() -> Result<[u8; 16]> {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
    Ok(b)
}
