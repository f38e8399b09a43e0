//! The invitation mails: Swedish text and HTML from templates, the `.ics` attached, and a durable
//! outbox in the profile directory that keeps each rendered message (with its Message-ID) until the
//! SMTP server has accepted it.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use lettre::{
    Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    address::Envelope,
    message::{Attachment, Mailbox, MultiPart, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, CertificateStore, Tls, TlsParameters},
    },
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    ClientError,
    profile::{SmtpConfig, SmtpSecurity},
};

/// The outbox directory inside a profile.
pub const OUTBOX_DIR: &str = "outbox";
/// Where a profile's own templates go (each file optional).
pub const TEMPLATES_DIR: &str = "templates";

const BUILT_IN_TEXT: &str = include_str!("../../templates/invitation.txt");
const BUILT_IN_HTML: &str = include_str!("../../templates/invitation.html");

/// The invitation texts: `PROFILE/templates/invitation.txt` and `invitation.html` where present,
/// otherwise the built-in Swedish ones.
#[derive(Clone, Debug)]
pub struct Templates {
    text: String,
    html: String,
}

impl Templates {
    /// Loads the profile's templates, each falling back to the built-in one.
    pub fn load(profile_dir: &Path) -> Result<Self, ClientError> {
        let read = |name: &str, built_in: &str| -> Result<String, ClientError> {
            let p = profile_dir.join(TEMPLATES_DIR).join(name);
            match fs::read_to_string(&p) {
                Ok(t) if t.contains("{{when}}") => Ok(t),
                Ok(_) => Err(ClientError::usage(
                    "template",
                    format!("the template {} must contain {{{{when}}}}, where the time goes", p.display()),
                )),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(built_in.to_owned()),
                Err(e) => Err(ClientError::Io { what: "cannot read the template", path: p, source: e }),
            }
        };
        Ok(Templates {
            text: read("invitation.txt", BUILT_IN_TEXT)?,
            html: read("invitation.html", BUILT_IN_HTML)?,
        })
    }
}

/// What the texts say; every value is allowed in mail (no person, no content).
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    /// "Kallelse till SIP-möte", or the update's or cancellation's heading.
    pub heading: &'a str,
    /// The opaque case reference.
    pub case: &'a str,
    /// "torsdag 3 december 2026 kl. 13:00–14:30".
    pub when: &'a str,
    /// The place.
    pub location: &'a str,
    /// A video link.
    pub video_link: Option<&'a str>,
    /// How to reach the organiser.
    pub contact: &'a str,
    /// The sending organisation.
    pub organisation: &'a str,
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The text and HTML parts.
pub fn render(t: &Templates, f: &Fields<'_>) -> (String, String) {
    let fill = |tpl: &str, esc: &dyn Fn(&str) -> String, video: String| {
        tpl.replace("{{heading}}", &esc(f.heading))
            .replace("{{case}}", &esc(f.case))
            .replace("{{when}}", &esc(f.when))
            .replace("{{location}}", &esc(f.location))
            .replace("{{video_link}}", &video)
            .replace("{{contact}}", &esc(f.contact))
            .replace("{{organisation}}", &esc(f.organisation))
    };
    let text_video = f.video_link.map(|v| format!("Videolänk: {v}")).unwrap_or_default();
    let html_video = f.video_link.map_or_else(String::new, |v| {
        let v = escape_html(v);
        format!("<tr><th scope=\"row\" align=\"left\">Videolänk</th><td><a href=\"{v}\">{v}</a></td></tr>")
    });
    (fill(&t.text, &|s: &str| s.to_owned(), text_video), fill(&t.html, &escape_html, html_video))
}

/// The SMTP transport for `c`: STARTTLS required or implicit TLS, rustls on ring.
pub fn transport(
    c: &SmtpConfig,
    profile_dir: &Path,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, ClientError> {
    let path = |p: &Path| if p.is_absolute() { p.to_owned() } else { profile_dir.join(p) };
    let mut tls = TlsParameters::builder(c.host.clone());
    if let Some(ca) = &c.ca {
        let ca = path(ca);
        let pem = fs::read(&ca).map_err(ClientError::io("cannot read smtp.ca", &ca))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            ClientError::usage(
                "smtp_config",
                format!("smtp.ca {} is not a PEM certificate: {e}", ca.display()),
            )
        })?;
        tls = tls.certificate_store(CertificateStore::None).add_root_certificate(cert);
    }
    let tls = tls
        .build_rustls()
        .map_err(|e| ClientError::usage("smtp_config", format!("cannot set up TLS for SMTP: {e}")))?;
    let (security, port) = match c.security {
        SmtpSecurity::Starttls => (Tls::Required(tls), c.port.unwrap_or(587)),
        SmtpSecurity::Tls => (Tls::Wrapper(tls), c.port.unwrap_or(465)),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
        .port(port)
        .tls(security)
        .timeout(Some(Duration::from_secs(30)));
    match (&c.username, &c.password_file) {
        (Some(user), Some(file)) => {
            let file = path(file);
            let password = fs::read_to_string(&file)
                .map_err(ClientError::io("cannot read smtp.password_file", &file))?;
            builder = builder.credentials(Credentials::new(user.clone(), password.trim_end().to_owned()));
        }
        (None, None) => {}
        _ => {
            return Err(ClientError::usage(
                "smtp_config",
                "smtp.username and smtp.password_file go together; set both or neither",
            ));
        }
    }
    Ok(builder.build())
}

/// The sender of `c`, parsed.
pub fn sender(c: &SmtpConfig) -> Result<Mailbox, ClientError> {
    c.from.parse().map_err(|e| {
        ClientError::usage("smtp_config", format!("smtp.from {:?} is not an e-mail address: {e}", c.from))
    })
}

/// One message to build.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// From.
    pub from: &'a Mailbox,
    /// To (one address per message).
    pub to: &'a Address,
    /// Fixed here, kept through every retry.
    pub message_id: String,
    /// Subject.
    pub subject: &'a str,
    /// Text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// The `.ics`.
    pub ics: &'a str,
    /// Its method, for the MIME type.
    pub method: &'a str,
}

/// The whole message: multipart/mixed of (text, HTML) alternatives and the calendar file.
pub fn build(o: Outgoing<'_>) -> Result<Vec<u8>, ClientError> {
    let calendar = ContentType::parse(&format!("text/calendar; charset=utf-8; method={}", o.method))
        .map_err(|e| ClientError::Internal(format!("calendar content type: {e}")))?;
    let m = Message::builder()
        .from(o.from.clone())
        .to(Mailbox::new(None, o.to.clone()))
        .subject(o.subject)
        .message_id(Some(o.message_id))
        .date_now()
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(o.text, o.html))
                .singlepart(Attachment::new("kallelse.ics".to_owned()).body(o.ics.to_owned(), calendar)),
        )
        .map_err(|e| ClientError::Internal(format!("the invitation mail could not be built: {e}")))?;
    Ok(m.formatted())
}

/// A message waiting in the outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    /// The Message-ID, fixed when the message was made.
    pub message_id: String,
    /// The invitation it belongs to.
    pub invitation: String,
    /// What it is: "REQUEST" or "CANCEL", and the sequence.
    pub method: String,
    /// Sequence number of the event.
    pub sequence: u32,
    /// Envelope sender.
    pub from: String,
    /// The recipient.
    pub to: String,
    /// When it was put in the outbox.
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    /// Attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// The outbox: `PROFILE/outbox/<name>.eml` (the message) and `<name>.json` (its state). The JSON
/// file is written last and removed first, so it alone says that a message waits.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(ClientError::io("cannot write", dir))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(ClientError::io("cannot write", path))?;
    tmp.as_file().sync_all().map_err(ClientError::io("cannot write", path))?;
    tmp.persist(path).map_err(|e| ClientError::Io {
        what: "cannot write",
        path: path.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

impl Outbox {
    /// The outbox of the profile in `profile_dir`.
    pub fn new(profile_dir: &Path) -> Self {
        Outbox { dir: profile_dir.join(OUTBOX_DIR) }
    }

    fn name(message_id: &str) -> String {
        message_id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect()
    }

    /// Keeps `raw` until it is sent.
    pub fn put(&self, p: &Pending, raw: &[u8]) -> Result<(), ClientError> {
        fs::create_dir_all(&self.dir).map_err(ClientError::io("cannot create the outbox", &self.dir))?;
        let name = Self::name(&p.message_id);
        write_atomic(&self.dir.join(format!("{name}.eml")), raw)?;
        self.save(p)
    }

    fn save(&self, p: &Pending) -> Result<(), ClientError> {
        let json =
            serde_json::to_vec_pretty(p).map_err(|e| ClientError::Internal(format!("outbox entry: {e}")))?;
        write_atomic(&self.dir.join(format!("{}.json", Self::name(&p.message_id))), &json)
    }

    /// Everything waiting, oldest first.
    pub fn list(&self) -> Result<Vec<Pending>, ClientError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(ClientError::Io {
                    what: "cannot read the outbox",
                    path: self.dir.clone(),
                    source: e,
                });
            }
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "json") {
                let bytes =
                    fs::read(&path).map_err(ClientError::io("cannot read the outbox entry", &path))?;
                let p: Pending = serde_json::from_slice(&bytes).map_err(|e| {
                    ClientError::usage(
                        "outbox",
                        format!("the outbox entry {} is damaged: {e}", path.display()),
                    )
                })?;
                out.push(p);
            }
        }
        out.sort_by(|a, b| a.queued_at.cmp(&b.queued_at).then_with(|| a.message_id.cmp(&b.message_id)));
        Ok(out)
    }

    /// Tries to send everything waiting; what the server accepted leaves the outbox.
    pub async fn flush(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
    ) -> Result<Vec<Delivery>, ClientError> {
        let mut out = Vec::new();
        // One sender at a time per profile, so that two commands cannot send the same message.
        let Some(_lock) = FlushLock::take(&self.dir)? else {
            return Ok(out);
        };
        for mut p in self.list()? {
            let name = Self::name(&p.message_id);
            let eml = self.dir.join(format!("{name}.eml"));
            let raw = fs::read(&eml).map_err(ClientError::io("cannot read the outbox message", &eml))?;
            let envelope = p
                .from
                .parse::<Address>()
                .ok()
                .zip(p.to.parse::<Address>().ok())
                .and_then(|(f, t)| Envelope::new(Some(f), vec![t]).ok())
                .ok_or_else(|| {
                    ClientError::usage("outbox", format!("the outbox entry {name} has an unusable address"))
                })?;
            p.attempts += 1;
            match transport.send_raw(&envelope, &raw).await {
                Ok(_) => {
                    // Accepted: the state goes first, so that a crash here cannot resend.
                    let json = self.dir.join(format!("{name}.json"));
                    fs::remove_file(&json)
                        .map_err(ClientError::io("cannot remove the sent outbox entry", &json))?;
                    let _ = fs::remove_file(&eml);
                    out.push(Delivery { message_id: p.message_id, to: p.to, sent: true, error: None });
                }
                Err(e) => {
                    let why = describe(&e);
                    p.last_error = Some(why.clone());
                    self.save(&p)?;
                    out.push(Delivery { message_id: p.message_id, to: p.to, sent: false, error: Some(why) });
                }
            }
        }
        Ok(out)
    }
}

/// `outbox/.flushing`, created exclusively; a lock older than [`FlushLock::STALE`] was left by a
/// command that died and is taken over.
struct FlushLock(PathBuf);

impl FlushLock {
    const STALE: Duration = Duration::from_secs(600);

    fn take(dir: &Path) -> Result<Option<FlushLock>, ClientError> {
        if !dir.exists() {
            return Ok(Some(FlushLock(PathBuf::new())));
        }
        let path = dir.join(".flushing");
        for _ in 0..2 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(Some(FlushLock(path))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .unwrap_or_default();
                    if age < Self::STALE {
                        return Ok(None);
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(ClientError::Io { what: "cannot lock the outbox", path, source: e }),
            }
        }
        Ok(None)
    }
}

impl Drop for FlushLock {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.0);
        }
    }
}

fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// What became of one message in a flush.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    /// Its Message-ID.
    pub message_id: String,
    /// The recipient.
    pub to: String,
    /// Accepted by the SMTP server (and gone from the outbox).
    pub sent: bool,
    /// Why not, when not; it stays in the outbox.
    pub error: Option<String>,
}
