//! The `openssl cms` baseline: what a CMS-based design would do with the same payload.
//!
//! Sealing is `openssl cms -sign` (attached, SHA-256, ECDSA P-256 with the same sender certificate
//! and key as the envelope) piped into `openssl cms -encrypt -aes-256-gcm` (AuthEnvelopedData,
//! ECDH P-256 key agreement to a recipient certificate made here). Opening is `openssl cms -decrypt`
//! piped into `openssl cms -verify` against the same root and CRL. All DER, `-binary` so the
//! content is not MIME-canonicalised. Timed end to end, process start-up included.
//!
//! The two processes of a pipeline run at once, so on a machine with two or more cores openssl
//! gets up to two cores where the envelope code uses one.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::federation::{CRL, ROOT, SENDER_CERT, SENDER_KEY};

const TIME: &str = "/usr/bin/time";

/// Files the openssl commands use.
#[derive(Debug)]
pub struct Openssl {
    pub version: String,
    fixture: PathBuf,
    recipient_cert: PathBuf,
    recipient_key: PathBuf,
    /// The root and its CRL in one PEM file.
    trust: PathBuf,
}

/// Peak RSS of the two processes of a pipeline, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct PipelineRss {
    pub first: u64,
    pub second: u64,
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Openssl {
    /// `None` when there is no `openssl` command; otherwise makes an EC P-256 recipient
    /// certificate in `fixture`.
    pub fn detect(fixture: &Path) -> Result<Option<Self>> {
        let Ok(out) = Command::new("openssl").arg("version").output() else {
            return Ok(None);
        };
        if !out.status.success() {
            return Ok(None);
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let recipient_cert = fixture.join("openssl-recipient.pem");
        let recipient_key = fixture.join("openssl-recipient.key");
        run_checked(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"])
                .args(["-subj", "/CN=samordna-bench recipient", "-days", "2", "-keyout"])
                .arg(&recipient_key)
                .arg("-out")
                .arg(&recipient_cert),
            "openssl req (making the recipient certificate)",
        )?;
        let trust = fixture.join("openssl-trust.pem");
        let mut pem = std::fs::read(fixture.join(ROOT))?;
        pem.extend(std::fs::read(fixture.join(CRL))?);
        std::fs::write(&trust, pem)?;
        Ok(Some(Openssl { version, fixture: fixture.to_owned(), recipient_cert, recipient_key, trust }))
    }

    /// `openssl` itself, or under `/usr/bin/time` writing peak RSS (KiB) to `rss`.
    fn openssl(rss: Option<&Path>) -> Command {
        match rss {
            None => Command::new("openssl"),
            Some(file) => {
                let mut c = Command::new(TIME);
                c.arg("-f").arg("%M").arg("-o").arg(file).arg("openssl");
                c
            }
        }
    }

    fn sign(&self, payload: &Path, rss: Option<&Path>) -> Command {
        let mut c = Self::openssl(rss);
        c.args(["cms", "-sign", "-binary", "-md", "sha256", "-nodetach", "-outform", "DER", "-in"])
            .arg(payload)
            .arg("-signer")
            .arg(self.fixture.join(SENDER_CERT))
            .arg("-inkey")
            .arg(self.fixture.join(SENDER_KEY));
        c
    }

    fn encrypt(&self, out: &Path, rss: Option<&Path>) -> Command {
        let mut c = Self::openssl(rss);
        c.args(["cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER", "-out"])
            .arg(out)
            .arg(&self.recipient_cert);
        c
    }

    fn decrypt(&self, envelope: &Path, rss: Option<&Path>) -> Command {
        let mut c = Self::openssl(rss);
        c.args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
            .arg(envelope)
            .arg("-recip")
            .arg(&self.recipient_cert)
            .arg("-inkey")
            .arg(&self.recipient_key);
        c
    }

    fn verify(&self, out: &Path, rss: Option<&Path>) -> Command {
        let mut c = Self::openssl(rss);
        // -purpose any: federation certificates carry clientAuth, not emailProtection.
        // The CRL rides in the CA file: `openssl cms` has no option of its own for one.
        c.args(["cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-crl_check", "-CAfile"])
            .arg(&self.trust)
            .arg("-out")
            .arg(out);
        c
    }

    /// Signs and encrypts `payload` into `out`, timed.
    pub fn seal(&self, payload: &Path, out: &Path, scratch: &Path) -> Result<Duration> {
        pipeline(self.sign(payload, None), self.encrypt(out, None), scratch, "openssl cms -sign | -encrypt")
    }

    /// Decrypts and verifies `envelope` into `out`, timed.
    pub fn open(&self, envelope: &Path, out: &Path, scratch: &Path) -> Result<Duration> {
        pipeline(
            self.decrypt(envelope, None),
            self.verify(out, None),
            scratch,
            "openssl cms -decrypt | -verify",
        )
    }

    /// Seals once more under `/usr/bin/time` for peak memory; `None` without `/usr/bin/time`.
    pub fn seal_rss(&self, payload: &Path, out: &Path, scratch: &Path) -> Result<Option<PipelineRss>> {
        self.with_rss(scratch, |a, b| {
            pipeline(
                self.sign(payload, Some(a)),
                self.encrypt(out, Some(b)),
                scratch,
                "openssl seal (memory)",
            )
        })
    }

    /// Opens once more under `/usr/bin/time` for peak memory; `None` without `/usr/bin/time`.
    pub fn open_rss(&self, envelope: &Path, out: &Path, scratch: &Path) -> Result<Option<PipelineRss>> {
        self.with_rss(scratch, |a, b| {
            pipeline(
                self.decrypt(envelope, Some(a)),
                self.verify(out, Some(b)),
                scratch,
                "openssl open (memory)",
            )
        })
    }

    fn with_rss(
        &self,
        scratch: &Path,
        run: impl FnOnce(&Path, &Path) -> Result<Duration>,
    ) -> Result<Option<PipelineRss>> {
        if !Path::new(TIME).exists() {
            return Ok(None);
        }
        let (a, b) = (scratch.join("rss-first"), scratch.join("rss-second"));
        run(&a, &b)?;
        let read = |p: &Path| -> Result<u64> {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            // The last line: GNU time puts "Command exited with non-zero status" first if any.
            let last = text.lines().last().unwrap_or_default().trim();
            last.parse().with_context(|| format!("{TIME} wrote {last:?}, not a number of KiB"))
        };
        Ok(Some(PipelineRss { first: read(&a)?, second: read(&b)? }))
    }
}

/// Runs `first | second`, each one's standard error to a file in `scratch`; the time from the
/// first spawn until both have exited.
fn pipeline(mut first: Command, mut second: Command, scratch: &Path, what: &str) -> Result<Duration> {
    let (err_a, err_b) = (scratch.join("stderr-first"), scratch.join("stderr-second"));
    first.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(File::create(&err_a)?);
    second.stdout(Stdio::null()).stderr(File::create(&err_b)?);

    let start = Instant::now();
    let mut a = first.spawn().with_context(|| format!("starting {what}"))?;
    let pipe = a.stdout.take().context("the first command's output pipe")?;
    let mut b = second.stdin(pipe).spawn().with_context(|| format!("starting {what}"))?;
    // The commands keep their copies of the pipe until dropped; with them alive a failing second
    // command would leave the first blocked on a full pipe instead of getting EPIPE.
    drop((first, second));
    let status_a = a.wait()?;
    let status_b = b.wait()?;
    let elapsed = start.elapsed();

    if !status_a.success() || !status_b.success() {
        let err = |p: &Path| std::fs::read_to_string(p).unwrap_or_default().trim().to_owned();
        bail!("{what} failed ({status_a}, {status_b}): {} {}", err(&err_a), err(&err_b));
    }
    Ok(elapsed)
}

/// `openssl speed -evp` for SHA-256 and AES-256-GCM: the single-core limit of the same primitives
/// in OpenSSL's own assembly, measured in the same run as the envelope figures.
#[derive(Clone, Copy, Debug)]
pub struct Speed {
    /// SHA-256, MiB/s.
    pub sha256: f64,
    /// AES-256-GCM encryption, MiB/s.
    pub aes_gcm: f64,
}

impl Speed {
    /// What sealing must do per byte at the least: SHA-256 of the plaintext, AES-256-GCM, SHA-256
    /// of the ciphertext, one after another on one core (opening does the same in reverse).
    pub fn path(&self) -> f64 {
        1.0 / (2.0 / self.sha256 + 1.0 / self.aes_gcm)
    }
}

/// Runs `openssl speed -mr -evp ALG` over 16 KiB blocks for `seconds` and returns MiB/s.
fn speed_of(alg: &str, seconds: u32) -> Result<f64> {
    let out = run_checked(
        Command::new("openssl").args([
            "speed",
            "-mr",
            "-seconds",
            &seconds.to_string(),
            "-bytes",
            "16384",
            "-evp",
            alg,
        ]),
        &format!("openssl speed -evp {alg}"),
    )?;
    // Machine-readable result line: `+F:<n>:<ALG>:<bytes per second>`.
    let bytes_per_s: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("+F:")?.rsplit(':').next()?.parse().ok())
        .with_context(|| format!("no +F line in openssl speed's output: {out}"))?;
    Ok(bytes_per_s / crate::size::MIB as f64)
}

/// SHA-256 and AES-256-GCM, the better of two rounds each.
pub fn speed() -> Result<Speed> {
    let best = |alg: &str| -> Result<f64> { Ok(speed_of(alg, 3)?.max(speed_of(alg, 3)?)) };
    Ok(Speed { sha256: best("sha256")?, aes_gcm: best("aes-256-gcm")? })
}
