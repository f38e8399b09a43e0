//! SIP meeting invitations (*kallelse till SIP-möte*, `docs/invitations.md`): an encrypted
//! invitation envelope (content kind `meeting`) to the participating principals through the relay,
//! and one e-mail per address, with an iCalendar file (RFC 5545/5546), through the principal's own
//! SMTP server. Updates raise the `SEQUENCE`; a cancellation is `METHOD:CANCEL`.
//!
//! Mail carries no sensitive content: an opaque case reference, time, place and contact only.
//! What was sent is kept in `PROFILE/invitations/`, and mail waits in `PROFILE/outbox/` until the
//! SMTP server has accepted it.

pub mod ics;
pub mod mail;
pub mod tz;

use std::{fmt, fs, path::Path, str::FromStr};

use lettre::Address;
use samordna_core::{CaseId, ContentKind, EnvelopeId, PrincipalId};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, PrimitiveDateTime, macros::format_description};

use self::{
    ics::Method,
    mail::{Delivery, Outbox, Pending},
};
use crate::{ClientError, SendRequest, Session, profile::Profile};

/// Where a profile keeps what it sent, one JSON file per invitation.
pub const INVITATIONS_DIR: &str = "invitations";

/// An invitee: a principal (gets the encrypted envelope) or an e-mail address (gets the mail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// `principal:SE…`
    Principal(PrincipalId),
    /// `email:name@example.se`
    Email(Address),
}

impl FromStr for Recipient {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("principal:") {
            PrincipalId::parse(p).map(Recipient::Principal).map_err(|e| format!("`{p}`: {e}"))
        } else if let Some(a) = s.strip_prefix("email:") {
            a.parse::<Address>()
                .map(Recipient::Email)
                .map_err(|e| format!("`{a}` is not an e-mail address: {e}"))
        } else {
            Err(format!("`{s}`: write principal:SE2321000032 or email:namn@example.se"))
        }
    }
}

/// `90m`, `1h30m`, `2h` or plain minutes, as minutes (1 minute to 24 hours).
pub fn parse_duration(s: &str) -> Result<u32, String> {
    let bad = || format!("`{s}` is not a duration; write it as 90m, 1h30m or 2h");
    let t = s.trim();
    let minutes = if let Ok(m) = t.parse::<u32>() {
        m
    } else {
        let (h, rest) = match t.split_once('h') {
            Some((h, rest)) => (h.parse::<u32>().map_err(|_| bad())?, rest),
            None => (0, t),
        };
        let m = match rest {
            "" => 0,
            r => r.strip_suffix('m').and_then(|m| m.parse::<u32>().ok()).ok_or_else(bad)?,
        };
        h.checked_mul(60).and_then(|h| h.checked_add(m)).ok_or_else(bad)?
    };
    if minutes == 0 || minutes > 24 * 60 {
        return Err(format!("`{s}`: a meeting lasts between 1 minute and 24 hours"));
    }
    Ok(minutes)
}

/// `2026-12-03T13:00`, Stockholm wall-clock time.
pub fn parse_start(s: &str) -> Result<PrimitiveDateTime, String> {
    let s = s.trim();
    PrimitiveDateTime::parse(s, format_description!("[year]-[month]-[day]T[hour]:[minute]"))
        .or_else(|_| PrimitiveDateTime::parse(s, format_description!("[year]-[month]-[day] [hour]:[minute]")))
        .map_err(|_| format!("`{s}` is not a time; write it as 2026-12-03T13:00 (Swedish time)"))
}

/// Refuses free text that looks like it holds a personnummer: mail and calendars are not the place.
fn check_free_text(what: &str, s: &str) -> Result<(), ClientError> {
    let digits: Vec<char> = s.chars().filter(|c| !matches!(c, '-' | '+' | ' ')).collect();
    let mut run = 0;
    for c in digits {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 10 {
            return Err(ClientError::usage(
                "sensitive_content",
                format!(
                    "{what} looks like it contains a personnummer; e-mail and calendars must hold only the case reference, time, place and contact"
                ),
            ));
        }
    }
    if s.chars().any(char::is_control) {
        return Err(ClientError::usage("usage", format!("{what} must be one line of text")));
    }
    Ok(())
}

/// What a profile keeps about an invitation it sent, so that updates and cancellations reach the
/// same people with the same UID and a higher SEQUENCE.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Invitation {
    /// Its id in this profile (M-…).
    pub id: String,
    /// The iCalendar UID.
    pub uid: String,
    /// The case.
    pub case_id: CaseId,
    /// Start, Stockholm wall-clock time (`2026-12-03T13:00`).
    pub start: String,
    /// Length in minutes.
    pub duration_minutes: u32,
    /// Where.
    pub location: String,
    /// A video link.
    pub video_link: Option<String>,
    /// Invited principals.
    pub principals: Vec<PrincipalId>,
    /// Invited addresses.
    pub emails: Vec<String>,
    /// The last SEQUENCE sent.
    pub sequence: u32,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// The envelopes sent to the principals, first to last.
    pub envelopes: Vec<EnvelopeId>,
}

impl Invitation {
    fn start_local(&self) -> Result<PrimitiveDateTime, ClientError> {
        parse_start(&self.start)
            .map_err(|e| ClientError::usage("invitation", format!("invitation {}: {e}", self.id)))
    }

    fn path(dir: &Path, id: &str) -> std::path::PathBuf {
        dir.join(INVITATIONS_DIR).join(format!("{id}.json"))
    }

    /// Loads invitation `id` of the profile in `dir`.
    pub fn load(dir: &Path, id: &str) -> Result<Self, ClientError> {
        if !id.starts_with("M-") || !id[2..].chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ClientError::usage("usage", format!("`{id}` is not an invitation id (M-…)")));
        }
        let path = Self::path(dir, id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClientError::usage(
                    "invitation_not_found",
                    format!("this profile has sent no invitation {id}; see `samordna invite list`"),
                ));
            }
            Err(e) => return Err(ClientError::Io { what: "cannot read the invitation", path, source: e }),
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::usage(
                "invitation",
                format!("the invitation file {} is damaged: {e}", path.display()),
            )
        })
    }

    fn save(&self, dir: &Path) -> Result<(), ClientError> {
        let d = dir.join(INVITATIONS_DIR);
        fs::create_dir_all(&d).map_err(ClientError::io("cannot create", &d))?;
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| ClientError::Internal(format!("invitation: {e}")))?;
        let path = Self::path(dir, &self.id);
        let mut tmp = tempfile::NamedTempFile::new_in(&d).map_err(ClientError::io("cannot write", &d))?;
        std::io::Write::write_all(&mut tmp, &json).map_err(ClientError::io("cannot write", &path))?;
        tmp.persist(&path).map_err(|e| ClientError::Io {
            what: "cannot write",
            path: path.clone(),
            source: e.error,
        })?;
        Ok(())
    }

    /// Every invitation of the profile in `dir`.
    pub fn list(dir: &Path) -> Result<Vec<Invitation>, ClientError> {
        let d = dir.join(INVITATIONS_DIR);
        let mut out = Vec::new();
        if let Ok(entries) = fs::read_dir(&d) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(id) = name.strip_suffix(".json") {
                    out.push(Self::load(dir, id)?);
                }
            }
        }
        out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }
}

/// `invite send`.
#[derive(Clone, Debug)]
pub struct SendInvitation {
    /// The case.
    pub case_id: CaseId,
    /// Stockholm wall-clock start.
    pub start: PrimitiveDateTime,
    /// Minutes.
    pub duration_minutes: u32,
    /// Where.
    pub location: String,
    /// A video link.
    pub video_link: Option<String>,
    /// Who.
    pub to: Vec<Recipient>,
}

/// `invite update`: what changes.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// New start.
    pub start: Option<PrimitiveDateTime>,
    /// New length.
    pub duration_minutes: Option<u32>,
    /// New place.
    pub location: Option<String>,
    /// New video link.
    pub video_link: Option<String>,
}

/// What an `invite` command did.
#[derive(Clone, Debug, Serialize)]
pub struct InviteResult {
    /// The invitation (M-…).
    pub invitation: String,
    /// Its UID.
    pub uid: String,
    /// The case.
    pub case_id: CaseId,
    /// REQUEST or CANCEL.
    pub method: Method,
    /// The SEQUENCE sent.
    pub sequence: u32,
    /// Start and end, Stockholm time.
    pub start: String,
    /// End.
    pub end: String,
    /// The envelope sent to the principals, if any were invited.
    pub envelope_id: Option<EnvelopeId>,
    /// What happened to each mail waiting (this invitation's and older ones).
    pub mail: Vec<Delivery>,
    /// Mails still in the outbox afterwards.
    pub pending: usize,
}

impl fmt::Display for InviteResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.method, self.sequence) {
            (Method::Cancel, _) => "Cancelled",
            (Method::Request, 0) => "Sent",
            (Method::Request, _) => "Updated",
        };
        write!(
            f,
            "{what} invitation {} (sequence {}) for case {}, {} – {} Europe/Stockholm.",
            self.invitation, self.sequence, self.case_id, self.start, self.end
        )?;
        if let Some(e) = &self.envelope_id {
            write!(f, "\n  encrypted envelope {e} sent through the relay")?;
        }
        write_deliveries(f, &self.mail, self.pending)
    }
}

fn write_deliveries(f: &mut fmt::Formatter<'_>, mail: &[Delivery], pending: usize) -> fmt::Result {
    for d in mail {
        match &d.error {
            None => write!(f, "\n  mail to {}: sent", d.to)?,
            Some(e) => write!(f, "\n  mail to {}: waiting in the outbox ({e})", d.to)?,
        }
    }
    if pending > 0 {
        write!(f, "\n{pending} mail(s) wait in the outbox; `samordna outbox flush` tries again.")?;
    }
    Ok(())
}

const WEEKDAYS: [&str; 7] = ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"];
const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

fn swedish_date(t: PrimitiveDateTime) -> String {
    format!(
        "{} {} {} {}",
        WEEKDAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year()
    )
}

fn hm(t: PrimitiveDateTime) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn swedish_when(start: PrimitiveDateTime, end: PrimitiveDateTime) -> String {
    if start.date() == end.date() {
        format!("{} kl. {}–{}", swedish_date(start), hm(start), hm(end))
    } else {
        format!("{} kl. {} – {} kl. {}", swedish_date(start), hm(start), swedish_date(end), hm(end))
    }
}

fn iso(t: PrimitiveDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]")).unwrap_or_default()
}

fn random_hex(n: usize) -> Result<String, ClientError> {
    let mut b = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| ClientError::Internal("the system's random generator failed".into()))?;
    Ok(hex::encode(b))
}

/// The meeting's end, in Stockholm wall-clock time, from its real length (a night with a clock
/// change is taken into account).
fn end_of(start: PrimitiveDateTime, minutes: u32) -> Result<PrimitiveDateTime, ClientError> {
    let s = tz::from_local(start).map_err(|e| ClientError::usage("start", e.to_string()))?;
    Ok(tz::to_local(s + Duration::minutes(i64::from(minutes))))
}

async fn send_envelope(
    session: &Session,
    inv: &Invitation,
    method: Method,
    ics: &str,
) -> Result<Option<EnvelopeId>, ClientError> {
    if inv.principals.is_empty() {
        return Ok(None);
    }
    let start = inv.start_local()?;
    let doc = serde_json::json!({
        "type": "samordna-meeting-v1",
        "method": method,
        "uid": inv.uid,
        "sequence": inv.sequence,
        "case_id": inv.case_id,
        "time_zone": tz::TZID,
        "start": inv.start,
        "end": iso(end_of(start, inv.duration_minutes)?),
        "location": inv.location,
        "video_link": inv.video_link,
        "organizer": session.profile().identity().organisation,
        "icalendar": ics,
    });
    let dir =
        tempfile::tempdir().map_err(|e| ClientError::Internal(format!("no temporary directory: {e}")))?;
    let file = dir.path().join("kallelse.json");
    let bytes =
        serde_json::to_vec_pretty(&doc).map_err(|e| ClientError::Internal(format!("invitation: {e}")))?;
    fs::write(&file, bytes).map_err(ClientError::io("cannot write", &file))?;
    let sent = session
        .send(&SendRequest {
            file,
            case_id: inv.case_id.clone(),
            to: inv.principals.clone(),
            kind: ContentKind::Meeting,
            consent: None,
        })
        .await?;
    Ok(Some(sent.envelope_id))
}

/// Renders the mails of `inv` for `method` and puts them in the outbox.
fn queue_mail(profile: &Profile, inv: &Invitation, method: Method, ics: &str) -> Result<(), ClientError> {
    if inv.emails.is_empty() {
        return Ok(());
    }
    let smtp = profile.smtp().ok_or_else(no_smtp)?;
    let from = mail::sender(smtp)?;
    let templates = mail::Templates::load(profile.dir())?;
    let start = inv.start_local()?;
    let when = swedish_when(start, end_of(start, inv.duration_minutes)?);
    let short = format!("{} kl. {}", swedish_date(start), hm(start));
    let (heading, subject) = match (method, inv.sequence) {
        (Method::Cancel, _) => ("SIP-mötet är inställt.".to_owned(), format!("Inställt: SIP-möte {short}")),
        (Method::Request, 0) => {
            ("Ni kallas till ett SIP-möte.".to_owned(), format!("Kallelse till SIP-möte {short}"))
        }
        (Method::Request, _) => (
            "Kallelsen till SIP-mötet är ändrad. Se tid och plats nedan.".to_owned(),
            format!("Ändrad kallelse till SIP-möte {short}"),
        ),
    };
    let contact = smtp.contact.clone().unwrap_or_else(|| from.email.to_string());
    let organisation = &profile.identity().organisation;
    let fields = mail::Fields {
        heading: &heading,
        case: inv.case_id.as_str(),
        when: &when,
        location: &inv.location,
        video_link: inv.video_link.as_deref(),
        contact: &contact,
        organisation,
    };
    let outbox = Outbox::new(profile.dir());
    let now = OffsetDateTime::now_utc();
    for (i, to) in inv.emails.iter().enumerate() {
        let address: Address = to.parse().map_err(|e| {
            ClientError::usage(
                "invitation",
                format!("invitation {}: `{to}` is not an e-mail address: {e}", inv.id),
            )
        })?;
        let (text, html) = mail::render(&templates, &fields);
        let message_id = format!(
            "<{}.{}.{}.{}@{}>",
            inv.id.to_ascii_lowercase(),
            method.as_str().to_ascii_lowercase(),
            inv.sequence,
            i,
            from.email.domain()
        );
        let raw = mail::build(mail::Outgoing {
            from: &from,
            to: &address,
            message_id: message_id.clone(),
            subject: &format!("{subject} (ärende {})", inv.case_id),
            text,
            html,
            ics,
            method: method.as_str(),
        })?;
        let pending = Pending {
            message_id,
            invitation: inv.id.clone(),
            method: method.as_str().to_owned(),
            sequence: inv.sequence,
            from: from.email.to_string(),
            to: to.clone(),
            queued_at: now,
            attempts: 0,
            last_error: None,
        };
        outbox.put(&pending, &raw)?;
    }
    Ok(())
}

fn no_smtp() -> ClientError {
    ClientError::usage(
        "smtp_not_configured",
        "this profile has no [smtp] section in profile.toml, so it cannot send e-mail; see docs/invitations.md",
    )
}

fn render_ics(profile: &Profile, inv: &Invitation, method: Method) -> Result<String, ClientError> {
    let start = inv.start_local()?;
    let end = end_of(start, inv.duration_minutes)?;
    let organisation = profile.identity().organisation.clone();
    let (org_name, org_mail) = match profile.smtp() {
        Some(s) => {
            let m = mail::sender(s)?;
            (m.name.clone().unwrap_or(organisation.clone()), m.email.to_string())
        }
        None => (organisation.clone(), "noreply@samordna.invalid".to_owned()),
    };
    let contact = profile.smtp().and_then(|s| s.contact.clone()).unwrap_or_else(|| org_mail.clone());
    let summary = format!("SIP-möte (ärende {})", inv.case_id);
    let mut description = format!(
        "Samordnad individuell plan (SIP), ärende {}. Kontakt: {contact}, {organisation}.",
        inv.case_id
    );
    if let Some(v) = &inv.video_link {
        description.push_str(&format!(" Videolänk: {v}"));
    }
    Ok(ics::render(&ics::Event {
        method,
        uid: &inv.uid,
        sequence: inv.sequence,
        dtstamp: OffsetDateTime::now_utc(),
        start,
        end,
        summary: &summary,
        location: &inv.location,
        description: &description,
        url: inv.video_link.as_deref(),
        organizer: (&org_name, &org_mail),
        attendees: &inv.emails,
    }))
}

/// Sends what waits in the outbox, if this profile can send mail at all.
async fn flush_outbox(profile: &Profile) -> Result<(Vec<Delivery>, usize), ClientError> {
    let outbox = Outbox::new(profile.dir());
    let Some(smtp) = profile.smtp() else {
        return Ok((Vec::new(), outbox.list()?.len()));
    };
    let transport = mail::transport(smtp, profile.dir())?;
    let done = outbox.flush(&transport).await?;
    Ok((done, outbox.list()?.len()))
}

async fn deliver(session: &Session, inv: &Invitation, method: Method) -> Result<InviteResult, ClientError> {
    let profile = session.profile();
    let ics = render_ics(profile, inv, method)?;
    let mut inv = inv.clone();
    // The relay first: a refusal (no consent for meetings, say) stops everything before any mail.
    if let Some(e) = send_envelope(session, &inv, method, &ics).await? {
        inv.envelopes.push(e);
    }
    inv.save(profile.dir())?;
    queue_mail(profile, &inv, method, &ics)?;
    let (mail, pending) = flush_outbox(profile).await?;
    let start = inv.start_local()?;
    Ok(InviteResult {
        invitation: inv.id.clone(),
        uid: inv.uid.clone(),
        case_id: inv.case_id.clone(),
        method,
        sequence: inv.sequence,
        start: iso(start),
        end: iso(end_of(start, inv.duration_minutes)?),
        envelope_id: if inv.principals.is_empty() { None } else { inv.envelopes.last().cloned() },
        mail,
        pending,
    })
}

/// `samordna invite send`.
pub async fn send(session: &Session, req: SendInvitation) -> Result<InviteResult, ClientError> {
    let profile = session.profile();
    check_free_text("--location", &req.location)?;
    if let Some(v) = &req.video_link {
        check_free_text("--video-link", v)?;
    }
    end_of(req.start, req.duration_minutes)?;
    let (mut principals, mut emails) = (Vec::new(), Vec::new());
    for r in req.to {
        match r {
            Recipient::Principal(p) if !principals.contains(&p) => principals.push(p),
            Recipient::Email(a) if !emails.contains(&a.to_string()) => emails.push(a.to_string()),
            _ => {}
        }
    }
    if principals.is_empty() && emails.is_empty() {
        return Err(ClientError::usage(
            "usage",
            "name at least one invitee with --to principal:… or --to email:…",
        ));
    }
    if !emails.is_empty() && profile.smtp().is_none() {
        return Err(no_smtp());
    }
    let id = format!("M-{}", random_hex(10)?.to_ascii_uppercase());
    let inv = Invitation {
        uid: format!(
            "{}.{}@samordna.se",
            id.to_ascii_lowercase(),
            profile.principal().as_str().to_ascii_lowercase()
        ),
        id,
        case_id: req.case_id,
        start: iso(req.start),
        duration_minutes: req.duration_minutes,
        location: req.location,
        video_link: req.video_link,
        principals,
        emails,
        sequence: 0,
        cancelled: false,
        envelopes: Vec::new(),
    };
    deliver(session, &inv, Method::Request).await
}

/// `samordna invite update`.
pub async fn update(session: &Session, id: &str, change: Change) -> Result<InviteResult, ClientError> {
    let mut inv = Invitation::load(session.profile().dir(), id)?;
    if inv.cancelled {
        return Err(ClientError::usage(
            "invitation_cancelled",
            format!("invitation {id} was cancelled; send a new one"),
        ));
    }
    if let Some(l) = &change.location {
        check_free_text("--location", l)?;
    }
    if let Some(v) = &change.video_link {
        check_free_text("--video-link", v)?;
    }
    if change.start.is_none()
        && change.duration_minutes.is_none()
        && change.location.is_none()
        && change.video_link.is_none()
    {
        return Err(ClientError::usage(
            "usage",
            "say what changes: --start, --duration, --location or --video-link",
        ));
    }
    if let Some(s) = change.start {
        inv.start = iso(s);
    }
    if let Some(d) = change.duration_minutes {
        inv.duration_minutes = d;
    }
    if let Some(l) = change.location {
        inv.location = l;
    }
    if let Some(v) = change.video_link {
        inv.video_link = (!v.is_empty()).then_some(v);
    }
    end_of(inv.start_local()?, inv.duration_minutes)?;
    inv.sequence += 1;
    deliver(session, &inv, Method::Request).await
}

/// `samordna invite cancel`.
pub async fn cancel(session: &Session, id: &str) -> Result<InviteResult, ClientError> {
    let mut inv = Invitation::load(session.profile().dir(), id)?;
    if inv.cancelled {
        return Err(ClientError::usage(
            "invitation_cancelled",
            format!("invitation {id} is already cancelled"),
        ));
    }
    inv.cancelled = true;
    inv.sequence += 1;
    deliver(session, &inv, Method::Cancel).await
}

/// `samordna outbox list`.
#[derive(Clone, Debug, Serialize)]
pub struct OutboxList {
    /// What waits.
    pub pending: Vec<Pending>,
}

impl fmt::Display for OutboxList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pending.is_empty() {
            return write!(f, "The outbox is empty.");
        }
        write!(f, "{} mail(s) waiting:", self.pending.len())?;
        for p in &self.pending {
            write!(
                f,
                "\nPENDING {} to {} ({} {} of invitation {}), {} attempt(s)",
                p.message_id, p.to, p.method, p.sequence, p.invitation, p.attempts
            )?;
            if let Some(e) = &p.last_error {
                write!(f, "; last error: {e}")?;
            }
        }
        Ok(())
    }
}

/// What waits in the profile's outbox.
pub fn outbox_list(profile: &Profile) -> Result<OutboxList, ClientError> {
    Ok(OutboxList { pending: Outbox::new(profile.dir()).list()? })
}

/// `samordna outbox flush`.
#[derive(Clone, Debug, Serialize)]
pub struct Flushed {
    /// What was tried.
    pub mail: Vec<Delivery>,
    /// Still waiting.
    pub pending: usize,
}

impl fmt::Display for Flushed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sent = self.mail.iter().filter(|d| d.sent).count();
        write!(f, "Sent {sent} mail(s).")?;
        write_deliveries(f, &self.mail, self.pending)
    }
}

/// Sends what waits in the outbox.
pub async fn outbox_flush(profile: &Profile) -> Result<Flushed, ClientError> {
    if profile.smtp().is_none() && !Outbox::new(profile.dir()).list()?.is_empty() {
        return Err(no_smtp());
    }
    let (mail, pending) = flush_outbox(profile).await?;
    Ok(Flushed { mail, pending })
}

/// `samordna invite list`.
#[derive(Clone, Debug, Serialize)]
pub struct InvitationList {
    /// This profile's invitations.
    pub invitations: Vec<Invitation>,
}

impl fmt::Display for InvitationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.invitations.is_empty() {
            return write!(f, "No invitations.");
        }
        for (n, i) in self.invitations.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{} case {} {} ({} min) at {}, sequence {}{}",
                i.id,
                i.case_id,
                i.start,
                i.duration_minutes,
                i.location,
                i.sequence,
                if i.cancelled { ", CANCELLED" } else { "" }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use time::macros::datetime;

    use super::*;

    #[test]
    fn durations_starts_and_invitees() {
        assert_eq!(parse_duration("90m"), Ok(90));
        assert_eq!(parse_duration("1h30m"), Ok(90));
        assert_eq!(parse_duration("2h"), Ok(120));
        assert_eq!(parse_duration("45"), Ok(45));
        for bad in ["", "0m", "25h", "1.5h", "h", "90 minutes"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_start("2026-12-03T13:00"), Ok(datetime!(2026-12-03 13:00)));
        assert!(parse_start("2026-12-03").is_err());
        assert!(matches!("email:a@b.se".parse::<Recipient>(), Ok(Recipient::Email(_))));
        assert!(matches!("principal:SE2321000032".parse::<Recipient>(), Ok(Recipient::Principal(_))));
        assert!("a@b.se".parse::<Recipient>().is_err());
        assert!("email:nope".parse::<Recipient>().is_err());
    }

    #[test]
    fn personnummer_in_free_text_is_refused() {
        assert!(check_free_text("--location", "Storgatan 1, rum 12").is_ok());
        assert!(check_free_text("--location", "hos 19121212-1212").is_err());
        assert!(check_free_text("--location", "hos 121212-1212").is_err());
        assert_eq!(
            swedish_when(datetime!(2026-12-03 13:00), datetime!(2026-12-03 14:30)),
            "torsdag 3 december 2026 kl. 13:00–14:30"
        );
    }
}
