//! The load generator: envelopes sealed before timing, N clients each on its own keep-alive mTLS
//! connection, and per-request latency.

use std::{
    io::Cursor,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use futures_util::StreamExt;
use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, Signer,
    api::ENVELOPE_MEDIA_TYPE,
    envelope::{RecipientKey, SealParams, SealedHeader, seal_to_parts},
};
use time::OffsetDateTime;

use crate::{measure::PayloadBytes, size::ByteSize};

/// One envelope sealed before timing.
#[derive(Debug)]
pub struct Sealed {
    pub id: EnvelopeId,
    /// The whole envelope as uploaded.
    pub bytes: Bytes,
    /// Its header, for the storage baseline, which writes the rows the relay writes.
    pub header: SealedHeader,
}

impl Sealed {
    /// The ciphertext: the envelope after its prefix.
    pub fn ciphertext(&self) -> Bytes {
        let len = usize::try_from(self.header.header.ciphertext.length).unwrap_or(usize::MAX);
        self.bytes.slice(self.bytes.len().saturating_sub(len)..)
    }
}

/// What every envelope of the run is sealed for.
#[derive(Debug)]
pub struct SealFor<'a> {
    pub signer: &'a Signer,
    pub recipient: RecipientKey,
    pub case_id: CaseId,
    pub consent_id: ConsentId,
}

fn random16() -> Result<[u8; 16]> {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| anyhow!("the system's random source failed"))?;
    Ok(b)
}

/// Seals `count` envelopes of `size` payload bytes, each with its own id, on every core.
pub fn seal_pool(with: &SealFor<'_>, size: ByteSize, count: usize) -> Result<Vec<Sealed>> {
    let payload = PayloadBytes::prefix(usize::try_from(size.0)?);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(count.max(1));
    let per = count.div_ceil(threads);
    let parts: Vec<Result<Vec<Sealed>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let payload = &payload;
                s.spawn(move || {
                    let n = per.min(count.saturating_sub(t * per));
                    (0..n).map(|_| seal_one(with, payload)).collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("a sealing thread panicked"))))
            .collect()
    });
    let mut out = Vec::with_capacity(count);
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

fn seal_one(with: &SealFor<'_>, payload: &[u8]) -> Result<Sealed> {
    let params = SealParams {
        envelope_id: EnvelopeId::from_random_bytes(random16()?),
        case_id: with.case_id.clone(),
        consent_id: with.consent_id.clone(),
        content_kind: ContentKind::Attachment,
        recipients: vec![with.recipient.clone()],
        media_type: "application/octet-stream".into(),
        file_name: Some("bilaga.bin".into()),
        created: OffsetDateTime::now_utc(),
    };
    let mut ciphertext = Vec::with_capacity(payload.len() + payload.len() / 64 + 4096);
    let header =
        seal_to_parts(&params, with.signer, Cursor::new(payload), payload.len() as u64, &mut ciphertext)?;
    let mut bytes = header.prefix();
    bytes.extend_from_slice(&ciphertext);
    Ok(Sealed { id: params.envelope_id, bytes: Bytes::from(bytes), header })
}

/// One HTTP client per simulated user: its own connection pool, so its own connection, opened
/// (TLS handshake and all) before timing by a `GET /healthz`.
pub async fn connect_clients(
    tls: &rustls::ClientConfig,
    base: &str,
    n: usize,
) -> Result<Vec<reqwest::Client>> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let c = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            .https_only(true)
            .pool_max_idle_per_host(1)
            .connect_timeout(Duration::from_secs(20))
            .read_timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        clients.push(c);
    }
    let warm = clients.iter().map(|c| async move {
        let r = c.get(format!("{base}/healthz")).send().await?;
        let status = r.status();
        r.bytes().await?;
        anyhow::ensure!(status.is_success(), "GET /healthz answered {status}");
        Ok(())
    });
    for r in futures_util::future::join_all(warm).await {
        r.context("opening the clients' connections")?;
    }
    Ok(clients)
}

/// Upload or fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `PUT /v1/envelopes/{id}`, expecting 201.
    Upload,
    /// `GET /v1/envelopes/{id}`, expecting 200 and the whole envelope.
    Fetch,
}

/// The outcome of one timed phase.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    /// Requests answered as expected.
    pub ok: usize,
    /// Requests that failed (wrong status, short body, transport error).
    pub errors: usize,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Envelope bytes moved by the successful requests.
    pub bytes: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Latencies of the successful requests, sorted.
    pub latencies: Vec<Duration>,
    /// Whether the phase stopped at its time limit (rather than at the end of the pool).
    pub timed_out: bool,
    /// Cores of CPU used by the server side, if measured.
    pub cpu_cores: Option<f64>,
    /// Peak resident memory of the server side in KiB, if measured.
    pub peak_rss_kib: Option<u64>,
    /// Which envelopes (pool indices) succeeded, for the fetch phase to follow.
    pub done: Vec<usize>,
}

impl Phase {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn mib_per_second(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64()
    }

    /// The `q`-quantile latency (nearest rank).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.latencies.len();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(self.latencies[rank - 1])
    }

    pub fn max(&self) -> Option<Duration> {
        self.latencies.last().copied()
    }
}

#[derive(Default)]
struct Worker {
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    bytes: u64,
    latencies: Vec<Duration>,
    done: Vec<usize>,
}

impl Worker {
    fn fail(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

/// Runs `op` on the envelopes `jobs` (indices into `pool`) with one task per client, each taking
/// the next envelope until none is left or `limit` has passed.
pub async fn drive(
    clients: &[reqwest::Client],
    base: &str,
    pool: &Arc<Vec<Sealed>>,
    jobs: Vec<usize>,
    op: Op,
    limit: Duration,
) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let jobs = Arc::new(jobs);
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .map(|client| {
            let (client, next, jobs, pool) = (client.clone(), next.clone(), jobs.clone(), pool.clone());
            let base = base.to_owned();
            tokio::spawn(async move {
                let mut w = Worker::default();
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = jobs.get(j) else { break };
                    if start.elapsed() >= limit {
                        break;
                    }
                    let env = &pool[i];
                    let url = format!("{base}/v1/envelopes/{}", env.id);
                    let t = Instant::now();
                    let outcome = match op {
                        Op::Upload => upload(&client, &url, env.bytes.clone()).await,
                        Op::Fetch => fetch(&client, &url, &env.bytes).await,
                    };
                    match outcome {
                        Ok(()) => {
                            w.latencies.push(t.elapsed());
                            w.ok += 1;
                            w.bytes += env.bytes.len() as u64;
                            w.done.push(i);
                        }
                        Err(e) => w.fail(format!(
                            "{} {}: {e:#}",
                            env.id,
                            if op == Op::Upload { "PUT" } else { "GET" }
                        )),
                    }
                }
                w
            })
        })
        .collect();
    let mut phase = Phase::default();
    for t in tasks {
        match t.await {
            Ok(w) => {
                phase.ok += w.ok;
                phase.errors += w.errors;
                phase.bytes += w.bytes;
                phase.latencies.extend(w.latencies);
                phase.done.extend(w.done);
                if phase.first_error.is_none() {
                    phase.first_error = w.first_error;
                }
            }
            Err(e) => {
                phase.errors += 1;
                phase.first_error.get_or_insert(format!("a client task failed: {e}"));
            }
        }
    }
    phase.elapsed = start.elapsed();
    phase.timed_out = next.load(Ordering::Relaxed) < jobs.len();
    phase.latencies.sort();
    phase
}

async fn upload(client: &reqwest::Client, url: &str, body: Bytes) -> Result<()> {
    let r =
        client.put(url).header(reqwest::header::CONTENT_TYPE, ENVELOPE_MEDIA_TYPE).body(body).send().await?;
    let status = r.status();
    let answer = r.bytes().await?;
    anyhow::ensure!(
        status == reqwest::StatusCode::CREATED,
        "answered {status} {}",
        String::from_utf8_lossy(&answer[..answer.len().min(300)])
    );
    Ok(())
}

async fn fetch(client: &reqwest::Client, url: &str, expected: &[u8]) -> Result<()> {
    let r = client.get(url).send().await?;
    let status = r.status();
    let mut stream = r.bytes_stream();
    let mut got = 0usize;
    let mut differs = false;
    let mut start = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if start.len() < 300 {
            start.extend_from_slice(&chunk[..chunk.len().min(300 - start.len())]);
        }
        // Byte for byte against what was uploaded, as the chunks arrive.
        differs |= expected.get(got..got + chunk.len()) != Some(&chunk[..]);
        got += chunk.len();
    }
    anyhow::ensure!(
        status == reqwest::StatusCode::OK,
        "answered {status} {}",
        String::from_utf8_lossy(&start)
    );
    anyhow::ensure!(got == expected.len(), "sent {got} bytes of an envelope of {}", expected.len());
    anyhow::ensure!(!differs, "sent bytes that differ from the envelope uploaded");
    Ok(())
}
