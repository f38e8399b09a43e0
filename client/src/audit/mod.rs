//! The compliance officer's tools (*logggranskning*): reading the relay's access log, proving it was
//! not changed, a person's log extract (*loggutdrag*), FHIR `AuditEvent` export and the yearly
//! follow-up statistics. Auditors are registered at the relay (`samordna-relay auditor add`); an
//! auditor of a principal sees the entries that concern that principal, a federation auditor all.
//!
//! Every entry the relay serves is decoded with [`LogEntry::decode`] (which refuses anything but
//! the canonical encoding) and its index checked against the index it was served under; `audit
//! verify` and `audit extract` also check it against the relay's signed checkpoints.
//!
//! - [`log`]: `audit log`, the entries as a table, JSON or CSV.
//! - [`verify`]: `audit verify`, checkpoints, roots, leaves, entries and witnesses.
//! - [`extract`]: `audit extract`, the person's log extract in Swedish.
//! - [`fhir`]: `audit export --format fhir`, a FHIR R4 `Bundle` of `AuditEvent`s.
//! - [`stats`]: `audit stats`, counts for the yearly follow-up.

pub mod extract;
pub mod fhir;
pub mod log;
pub mod names;
pub mod stats;
pub mod verify;

use samordna_core::{
    CaseId, ConsentId, EnvelopeId, HsaId, PrincipalId,
    api::{Directory, EntryRecord},
    audit::{Action, Reason},
    log::{Decision, LogEntry, ObjectRef, entry::micros_since_epoch},
};
use serde::Serialize;
use time::{OffsetDateTime, macros::format_description};

use crate::{
    error::ClientError,
    ops::Session,
    relay::{EntryFilter, RelayError},
};

/// The most entries the relay serves per page.
pub const PAGE: u64 = 5000;

/// What an auditor asks for: every filter is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this case.
    pub case: Option<CaseId>,
    /// Only entries where this principal acted.
    pub principal: Option<PrincipalId>,
    /// Only entries where this person or system (HSA-id) acted.
    pub user: Option<HsaId>,
    /// Only this action.
    pub action: Option<Action>,
    /// Only allowed, or only refused, requests.
    pub decision: Option<Decision>,
    /// From this time (inclusive).
    pub from: Option<OffsetDateTime>,
    /// Before this time (exclusive).
    pub to: Option<OffsetDateTime>,
}

impl AuditQuery {
    /// The relay's filter for the first page.
    pub fn filter(&self) -> EntryFilter {
        EntryFilter {
            start: 0,
            count: Some(PAGE),
            case: self.case.clone(),
            principal: self.principal.clone(),
            user: self.user.clone(),
            action: self.action,
            decision: self.decision,
            from_us: self.from.map(micros_since_epoch),
            to_us: self.to.map(micros_since_epoch),
        }
    }
}

/// A refusal of an auditor route, said as a sentence: only registered auditors read the log.
pub(crate) fn auditor_error(e: RelayError) -> ClientError {
    match e.code().and_then(|c| c.reason()) {
        Some(Reason::Forbidden) => {
            let relay_said = match &e {
                RelayError::Refused { message, .. } => message.clone(),
                other => other.to_string(),
            };
            ClientError::Policy {
                code: Reason::Forbidden.as_str().into(),
                message: format!(
                    "the relay refused to show its access log: {relay_said}. Only compliance officers registered \
                     at the relay can read it; the refusal itself is logged"
                ),
            }
        }
        _ => ClientError::Relay(e),
    }
}

/// Every entry the caller may see that matches `filter`, page by page, as served (not yet checked).
pub(crate) async fn fetch_records(
    session: &Session,
    mut filter: EntryFilter,
) -> Result<(Vec<EntryRecord>, u64), ClientError> {
    let mut records = Vec::new();
    let mut size = 0;
    loop {
        let page = session.relay().log_entries(&filter).await.map_err(auditor_error)?.value;
        size = size.max(page.size);
        records.extend(page.entries);
        match page.next {
            Some(next) if next > filter.start => filter.start = next,
            Some(next) => {
                return Err(ClientError::Relay(RelayError::Protocol {
                    status: None,
                    detail: format!("the entries page from {} says to go on from {next}", filter.start),
                    request_id: None,
                }));
            }
            None => break,
        }
    }
    Ok((records, size))
}

/// Decodes a served entry and checks that it holds the index it was served under.
pub fn decode_record(record: &EntryRecord) -> Result<LogEntry, String> {
    let entry = LogEntry::decode(&record.entry)
        .map_err(|e| format!("the relay serves bytes that are not a valid entry ({e})"))?;
    if entry.index != record.index {
        return Err(format!(
            "the relay serves the entry of index {} under index {} (entries were moved)",
            entry.index, record.index
        ));
    }
    Ok(entry)
}

/// Every entry matching `query`, each decoded and its index checked; a bad one fails with exit 4.
pub(crate) async fn fetch_entries(
    session: &Session,
    query: &AuditQuery,
) -> Result<(Vec<LogEntry>, u64), ClientError> {
    let (records, size) = fetch_records(session, query.filter()).await?;
    let mut entries = Vec::with_capacity(records.len());
    for r in &records {
        let entry = decode_record(r).map_err(|what| {
            ClientError::verification(
                "log_entry_invalid",
                format!(
                    "entry {}: {what}; run `samordna audit verify` and tell the relay's operator",
                    r.index
                ),
            )
        })?;
        entries.push(entry);
    }
    Ok((entries, size))
}

/// `2026-11-23 14:05:12`, UTC.
pub fn human_time(at_us: i64) -> String {
    at(at_us)
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .unwrap_or_else(|_| at_us.to_string())
}

/// `2026-11-23T14:05:12.123456Z`: RFC 3339 with microseconds, as FHIR `instant` and CSV carry it.
pub fn rfc3339_us(at_us: i64) -> String {
    at(at_us)
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"))
        .unwrap_or_else(|_| at_us.to_string())
}

fn at(at_us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_us) * 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// An entry as an auditor reads it, with the organisation's name from the directory.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// Its index in the log.
    pub index: u64,
    /// When (RFC 3339, UTC, microseconds).
    pub time: String,
    /// The acting principal.
    pub principal: Option<PrincipalId>,
    /// Its name, from the relay's directory.
    pub organisation: Option<String>,
    /// The acting person or system (HSA-id).
    pub user: Option<HsaId>,
    /// What was done.
    pub action: Action,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// Why (`ok` when allowed).
    pub reason: Reason,
    /// The case.
    pub case_id: Option<CaseId>,
    /// The consent relied on or checked.
    pub consent_id: Option<ConsentId>,
    /// The envelope.
    pub envelope_id: Option<EnvelopeId>,
    /// Another object (a principal, a key, a marker such as the content kind of an upload).
    pub object: Option<String>,
    /// The client's address.
    pub peer: Option<String>,
    /// The relay's request id.
    pub request_id: String,
    /// SHA-256 of the client certificate (hex).
    pub cert_fingerprint: Option<String>,
    /// The decoded entry.
    #[serde(skip)]
    pub entry: LogEntry,
}

impl AuditEntry {
    /// The view of `entry`, naming its principal from `directory`.
    pub fn new(entry: LogEntry, directory: &Directory) -> Self {
        let organisation = entry
            .actor_principal
            .as_ref()
            .and_then(|p| directory.principals.iter().find(|d| d.id == *p))
            .map(|d| d.name.clone());
        AuditEntry {
            index: entry.index,
            time: rfc3339_us(entry.at_us),
            principal: entry.actor_principal.clone(),
            organisation,
            user: entry.actor_user.clone(),
            action: entry.action,
            decision: if entry.decision() == Decision::Allow { "allow" } else { "deny" },
            reason: entry.reason,
            case_id: entry.case_id.clone(),
            consent_id: entry.consent_id.clone(),
            envelope_id: entry.envelope_id.clone(),
            object: entry.object.as_ref().map(|o| o.as_str().to_owned()),
            peer: entry.peer.map(|p| p.to_string()),
            request_id: entry.request_id.as_str().to_owned(),
            cert_fingerprint: entry.cert_fingerprint.map(hex::encode),
            entry,
        }
    }

    /// "Linköpings kommun (SE2120000449)", or the id alone, or "—".
    pub fn organisation_label(&self) -> String {
        match (&self.organisation, &self.principal) {
            (Some(n), Some(p)) => format!("{n} ({p})"),
            (None, Some(p)) => p.to_string(),
            _ => "—".into(),
        }
    }

    /// The object marker, when the entry has one (an upload's content kind, a withdrawal's reason).
    pub fn marker(&self) -> Option<&str> {
        match &self.entry.object {
            Some(ObjectRef::Marker(m)) => Some(m.as_str()),
            _ => None,
        }
    }
}

/// RFC 4180 CSV: fields separated by commas, records by CRLF, a field quoted (its quotes doubled)
/// when it holds a comma, a quote, CR or LF. A field that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-` or `@`) is prefixed with `'`.
pub fn csv(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in rows {
        let fields: Vec<String> = row
            .iter()
            .map(|f| {
                let f = if f.starts_with(['=', '+', '-', '@']) { format!("'{f}") } else { f.clone() };
                if f.contains([',', '"', '\r', '\n']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f }
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Text columns padded to their widest cell (in characters), two spaces apart.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i].saturating_sub(cell.chars().count()) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_follows_rfc_4180() {
        let rows = vec![
            vec!["a".to_owned(), "b, c".to_owned(), "say \"hi\"".to_owned()],
            vec!["line\nbreak".to_owned(), "=SUM(A1)".to_owned(), String::new()],
        ];
        assert_eq!(csv(&rows), "a,\"b, c\",\"say \"\"hi\"\"\"\r\n\"line\nbreak\",'=SUM(A1),\r\n");
    }

    #[test]
    fn tables_align_by_characters() {
        let rows = vec![vec!["Tid".to_owned(), "Åtgärd".to_owned()], vec!["2026".to_owned(), "x".to_owned()]];
        assert_eq!(table(&rows), "Tid   Åtgärd\n2026  x\n");
    }

    #[test]
    fn times_are_utc_with_microseconds() {
        assert_eq!(rfc3339_us(1_795_426_200_123_456), "2026-11-23T09:30:00.123456Z");
        assert_eq!(human_time(1_795_426_200_123_456), "2026-11-23 09:30:00");
    }

    #[test]
    fn records_must_hold_their_own_index() {
        let hex = "010000000000000000000660ee3ce0f840001835663263306139643431653662376338643965306631613201000c5345323332313030303033320100115345323332313030303033322d6162633101c2a825b1184c72858d24cea6d335cd84957ccd507f4afef9a4ef1f5c6057b3be002a01000001001c532d30314a4451375a35573656385439523053314e324d334b34483501001c4b2d30314a4451375a35573656385439523053314e324d334b34483601001c452d30314a4451375a35573656385439523053314e324d334b344837000104c000020ac3cb";
        let bytes = hex::decode(hex).unwrap();
        let ok = EntryRecord { index: 0, entry: bytes.clone() };
        assert_eq!(decode_record(&ok).unwrap().action, Action::EnvelopeFetch);
        let moved = EntryRecord { index: 3, entry: bytes.clone() };
        assert!(decode_record(&moved).unwrap_err().contains("moved"));
        let mut bad = bytes;
        bad.push(0);
        assert!(
            decode_record(&EntryRecord { index: 0, entry: bad }).unwrap_err().contains("not a valid entry")
        );
        let view = AuditEntry::new(decode_record(&ok).unwrap(), &Directory { principals: Vec::new() });
        assert_eq!(view.organisation_label(), "SE2321000032");
        assert_eq!(view.peer.as_deref(), Some("192.0.2.10:50123"));
    }
}
