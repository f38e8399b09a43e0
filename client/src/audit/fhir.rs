//! `audit export --format fhir`: the entries as a FHIR R4 `Bundle` (type `collection`) of
//! `AuditEvent` resources, for a health record system's audit repository.
//!
//! | AuditEvent | from the entry |
//! |---|---|
//! | `id` | `samordna-<index>` |
//! | `type` | DICOM (`http://dicom.nema.org/resources/ontology/DCM`): 110110 Patient Record for cases, consents and envelopes; 110114 User Authentication; 110112 Query; 110101 Audit Log Used; 110100 Application Activity |
//! | `subtype` | the action's stable name in [`ACTION_SYSTEM`] (`envelope_fetch`, …) |
//! | `action` | C create, R read, U update, D delete, E execute (queries, sign-in) |
//! | `recorded` | the entry's time, UTC, microseconds |
//! | `outcome` | 0 allowed; 4 refused (a policy answer); 8 refused because the relay failed (`unavailable`, `timeout`) |
//! | `outcomeDesc` | the reason code and its Swedish words |
//! | `purposeOfEvent` | `COC` coordination of care (v3 ActReason) |
//! | `agent[0]` | the person or system: `who.identifier` HSA-id (system `urn:oid:1.2.752.29.4.19`), `requestor: true`, `network` the peer address |
//! | `agent[1]` | the organisation: `who.identifier` the principal id `SE` + organisation number, system `urn:oid:2.5.4.97` (the certificate's organizationIdentifier attribute, which holds it in this form), `requestor: false` |
//! | `source.observer` | the relay's log origin, system [`LOG_ORIGIN_SYSTEM`] |
//! | `entity` | the case, consent and envelope (systems [`CASE_SYSTEM`], [`CONSENT_SYSTEM`], [`ENVELOPE_SYSTEM`]), another principal or key, and the log entry itself (`<origin>#<index>`, with the request id and the object marker as details) |

use std::fmt;

use samordna_core::{
    CaseId,
    audit::{Action, Reason},
    log::ObjectRef,
};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{AuditEntry, AuditQuery, fetch_entries, names::outcome_sv, rfc3339_us};
use crate::{
    error::ClientError,
    logcheck::{directory, log_key},
    ops::Session,
};

/// Samordna's actions as a code system (codes: `Action::as_str`).
pub const ACTION_SYSTEM: &str = "https://samordna.se/fhir/CodeSystem/action";
/// Samordna's reasons as a code system (codes: `Reason::as_str`).
pub const REASON_SYSTEM: &str = "https://samordna.se/fhir/CodeSystem/reason";
/// Case ids (`S-…`).
pub const CASE_SYSTEM: &str = "https://samordna.se/fhir/NamingSystem/case-id";
/// Consent ids (`K-…`).
pub const CONSENT_SYSTEM: &str = "https://samordna.se/fhir/NamingSystem/consent-id";
/// Envelope ids (`E-…`).
pub const ENVELOPE_SYSTEM: &str = "https://samordna.se/fhir/NamingSystem/envelope-id";
/// Encryption key ids (`N-…`).
pub const KEY_SYSTEM: &str = "https://samordna.se/fhir/NamingSystem/key-id";
/// Log origins (`samordna.se/relay/<instance>`).
pub const LOG_ORIGIN_SYSTEM: &str = "https://samordna.se/fhir/NamingSystem/log-origin";
/// Log entries (`<origin>#<index>`).
pub const LOG_ENTRY_SYSTEM: &str = "https://samordna.se/fhir/NamingSystem/log-entry";
/// HSA-ids.
pub const HSA_SYSTEM: &str = "urn:oid:1.2.752.29.4.19";
/// Principals: X.520 organizationIdentifier (`SE` + organisation number).
pub const ORGANISATION_SYSTEM: &str = "urn:oid:2.5.4.97";

const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// The DICOM event type of an action (code, display).
pub fn event_type(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Authenticate => ("110114", "User Authentication"),
        Action::DirectoryRead | Action::KeyRead | Action::InboxRead => ("110112", "Query"),
        Action::LogRead | Action::LogCosign => ("110101", "Audit Log Used"),
        Action::KeyPublish | Action::WitnessKeyPublish => ("110100", "Application Activity"),
        _ => ("110110", "Patient Record"),
    }
}

/// The FHIR `AuditEvent.action` of an action: C, R, U, D or E.
pub fn event_action(action: Action) -> &'static str {
    match action {
        Action::CaseOpen
        | Action::ConsentRecord
        | Action::EnvelopeUpload
        | Action::ReceiptPost
        | Action::KeyPublish
        | Action::WitnessKeyPublish
        | Action::LogCosign => "C",
        Action::CaseClose | Action::ConsentWithdraw | Action::ConsentBlock => "U",
        Action::EnvelopeDelete => "D",
        Action::Authenticate | Action::DirectoryRead | Action::InboxRead | Action::LogRead => "E",
        _ => "R",
    }
}

/// The FHIR outcome: 0 success, 4 minor failure (refused), 8 serious failure (the relay failed).
pub fn event_outcome(reason: Reason) -> &'static str {
    match reason {
        Reason::Ok => "0",
        Reason::Unavailable | Reason::Timeout => "8",
        _ => "4",
    }
}

fn identifier(system: &str, value: &str) -> Value {
    json!({ "identifier": { "system": system, "value": value } })
}

fn system_object(what: Value) -> Value {
    json!({
        "what": what,
        "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object" }
    })
}

/// A version-8 UUID from a hash: stable for the same entry, unique across entries.
fn uuid_from(hash: &[u8; 32]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// One entry as an `AuditEvent`.
pub fn audit_event(e: &AuditEntry, origin: &str) -> Value {
    let (code, display) = event_type(e.action);
    let mut agents = Vec::new();
    let network = e.entry.peer.map(|p| json!({ "address": p.ip.to_string(), "type": "2" }));
    if let Some(user) = &e.user {
        let mut a = json!({
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser", "display": "human user" }] },
            "who": identifier(HSA_SYSTEM, user.as_str()),
            "requestor": true
        });
        if let Some(n) = &network {
            a["network"] = n.clone();
        }
        agents.push(a);
    }
    if let Some(p) = &e.principal {
        let mut who = identifier(ORGANISATION_SYSTEM, p.as_str());
        if let Some(name) = &e.organisation {
            who["display"] = name.as_str().into();
        }
        let mut a = json!({ "who": who, "requestor": agents.is_empty() });
        if agents.is_empty()
            && let Some(n) = &network
        {
            a["network"] = n.clone();
        }
        agents.push(a);
    }
    if agents.is_empty() {
        let mut a =
            json!({ "who": { "display": "unidentified client (no usable certificate)" }, "requestor": true });
        if let Some(n) = &network {
            a["network"] = n.clone();
        }
        agents.push(a);
    }

    let mut entities = Vec::new();
    if let Some(c) = &e.case_id {
        entities.push(system_object(identifier(CASE_SYSTEM, c.as_str())));
    }
    if let Some(c) = &e.consent_id {
        entities.push(system_object(identifier(CONSENT_SYSTEM, c.as_str())));
    }
    if let Some(id) = &e.envelope_id {
        entities.push(system_object(identifier(ENVELOPE_SYSTEM, id.as_str())));
    }
    match &e.entry.object {
        Some(ObjectRef::Principal(p)) => {
            entities.push(system_object(identifier(ORGANISATION_SYSTEM, p.as_str())))
        }
        Some(ObjectRef::Key(k)) => entities.push(system_object(identifier(KEY_SYSTEM, k.as_str()))),
        _ => {}
    }
    let mut log_entry = system_object(identifier(LOG_ENTRY_SYSTEM, &format!("{origin}#{}", e.index)));
    let mut details = vec![json!({ "type": "request-id", "valueString": e.request_id })];
    if let Some(m) = e.marker() {
        details.push(json!({ "type": "marker", "valueString": m }));
    }
    log_entry["detail"] = Value::Array(details);
    entities.push(log_entry);

    json!({
        "resourceType": "AuditEvent",
        "id": format!("samordna-{}", e.index),
        "type": { "system": DICOM, "code": code, "display": display },
        "subtype": [{ "system": ACTION_SYSTEM, "code": e.action.as_str() }],
        "action": event_action(e.action),
        "recorded": rfc3339_us(e.entry.at_us),
        "outcome": event_outcome(e.reason),
        "outcomeDesc": format!("{}: {}", e.reason.as_str(), outcome_sv(e.reason)),
        "purposeOfEvent": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "COC", "display": "coordination of care"
        }] }],
        "agent": agents,
        "source": {
            "observer": { "identifier": { "system": LOG_ORIGIN_SYSTEM, "value": origin }, "display": "Samordna relay" },
            "type": [{ "system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server" }]
        },
        "entity": entities
    })
}

/// A `Bundle` of type `collection` with one `AuditEvent` per entry.
pub fn bundle(entries: &[AuditEntry], origin: &str, generated: OffsetDateTime) -> Value {
    let items: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({ "fullUrl": format!("urn:uuid:{}", uuid_from(&e.entry.leaf_hash())), "resource": audit_event(e, origin) })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": rfc3339_us(samordna_core::log::entry::micros_since_epoch(generated)),
        "entry": items
    })
}

/// `audit export --format fhir`.
#[derive(Clone, Debug, Serialize)]
pub struct FhirExport {
    /// The log's origin (the observer).
    pub origin: String,
    /// How many `AuditEvent`s.
    pub count: usize,
    /// The `Bundle`.
    pub bundle: Value,
}

impl fmt::Display for FhirExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.bundle)
    }
}

impl Session {
    /// `audit export --format fhir`: the entries the auditor may see (of one case, if given).
    pub async fn audit_export_fhir(&self, case: Option<&CaseId>) -> Result<FhirExport, ClientError> {
        let query = AuditQuery { case: case.cloned(), ..AuditQuery::default() };
        let (entries, _) = fetch_entries(self, &query).await?;
        let origin = match log_key(self) {
            Ok(k) => k.name().to_owned(),
            Err(_) => self.relay().log_key().await?.value.origin,
        };
        let dir = directory(self).await;
        let views: Vec<AuditEntry> = entries.into_iter().map(|e| AuditEntry::new(e, &dir)).collect();
        let bundle = bundle(&views, &origin, OffsetDateTime::now_utc());
        Ok(FhirExport { origin, count: views.len(), bundle })
    }
}

#[cfg(test)]
mod tests {
    use samordna_core::api::{Directory, PrincipalEntry, PrincipalKind};

    use super::*;
    use crate::audit::decode_record;

    const ENTRY0: &str = "010000000000000000000660ee3ce0f840001835663263306139643431653662376338643965306631613201000c5345323332313030303033320100115345323332313030303033322d6162633101c2a825b1184c72858d24cea6d335cd84957ccd507f4afef9a4ef1f5c6057b3be002a01000001001c532d30314a4451375a35573656385439523053314e324d334b34483501001c4b2d30314a4451375a35573656385439523053314e324d334b34483601001c452d30314a4451375a35573656385439523053314e324d334b344837000104c000020ac3cb";

    fn entry() -> AuditEntry {
        let record = samordna_core::api::EntryRecord { index: 0, entry: hex::decode(ENTRY0).unwrap() };
        let dir = Directory {
            principals: vec![PrincipalEntry {
                id: "SE2321000032".parse().unwrap(),
                name: "Region Östergötland".into(),
                kind: PrincipalKind::Region,
                enabled: true,
            }],
        };
        AuditEntry::new(decode_record(&record).unwrap(), &dir)
    }

    #[test]
    fn an_entry_becomes_an_audit_event() {
        let ev = audit_event(&entry(), "samordna.se/relay/example");
        assert_eq!(ev["resourceType"], "AuditEvent");
        assert_eq!(ev["type"]["code"], "110110");
        assert_eq!(ev["subtype"][0], json!({"system": ACTION_SYSTEM, "code": "envelope_fetch"}));
        assert_eq!(ev["action"], "R");
        assert_eq!(ev["recorded"], "2026-11-23T09:30:00.123456Z");
        assert_eq!(ev["outcome"], "0");
        assert_eq!(ev["agent"][0]["who"]["identifier"]["value"], "SE2321000032-abc1");
        assert_eq!(ev["agent"][0]["who"]["identifier"]["system"], HSA_SYSTEM);
        assert_eq!(ev["agent"][0]["requestor"], true);
        assert_eq!(ev["agent"][0]["network"], json!({"address": "192.0.2.10", "type": "2"}));
        assert_eq!(ev["agent"][1]["who"]["identifier"]["system"], ORGANISATION_SYSTEM);
        assert_eq!(ev["agent"][1]["who"]["display"], "Region Östergötland");
        assert_eq!(ev["source"]["observer"]["identifier"]["value"], "samordna.se/relay/example");
        let systems: Vec<&str> = ev["entity"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["what"]["identifier"]["system"].as_str())
            .collect();
        assert_eq!(systems, [CASE_SYSTEM, CONSENT_SYSTEM, ENVELOPE_SYSTEM, LOG_ENTRY_SYSTEM]);
        assert_eq!(ev["purposeOfEvent"][0]["coding"][0]["code"], "COC");
    }

    #[test]
    fn outcomes_and_actions_follow_the_value_sets() {
        assert_eq!(event_outcome(Reason::ConsentWithdrawn), "4");
        assert_eq!(event_outcome(Reason::Unavailable), "8");
        for a in Action::ALL {
            assert!(["C", "R", "U", "D", "E"].contains(&event_action(*a)));
        }
        let b = bundle(&[entry()], "o", OffsetDateTime::UNIX_EPOCH);
        assert_eq!(b["type"], "collection");
        let url = b["entry"][0]["fullUrl"].as_str().unwrap();
        assert_eq!(url.len(), "urn:uuid:".len() + 36);
        assert_eq!(&url[23..24], "8", "version 8: {url}");
    }
}
