//! `audit log`: the entries an auditor may see, filtered, as a table, JSON or CSV.

use std::fmt;

use serde::Serialize;

use super::{AuditEntry, AuditQuery, csv, fetch_entries, human_time, table};
use crate::{error::ClientError, logcheck::directory, ops::Session};

/// `audit log`.
#[derive(Clone, Debug, Serialize)]
pub struct AuditLog {
    /// The entries, in log order.
    pub entries: Vec<AuditEntry>,
    /// The log's size when the relay answered.
    pub log_size: u64,
}

const COLUMNS: [&str; 9] =
    ["Time (UTC)", "Organisation", "HSA-id", "Action", "Decision", "Reason", "Case", "Consent", "Envelope"];

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl AuditLog {
    /// RFC 4180 CSV, one header line, then one line per entry.
    pub fn to_csv(&self) -> String {
        let mut rows = vec![
            [
                "index",
                "time",
                "principal",
                "organisation",
                "user",
                "action",
                "decision",
                "reason",
                "case_id",
                "consent_id",
                "envelope_id",
                "object",
                "peer",
                "request_id",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for e in &self.entries {
            rows.push(vec![
                e.index.to_string(),
                e.time.clone(),
                opt(&e.principal),
                opt(&e.organisation),
                opt(&e.user),
                e.action.to_string(),
                e.decision.to_owned(),
                e.reason.to_string(),
                opt(&e.case_id),
                opt(&e.consent_id),
                opt(&e.envelope_id),
                opt(&e.object),
                opt(&e.peer),
                e.request_id.clone(),
            ]);
        }
        csv(&rows)
    }
}

impl fmt::Display for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return write!(f, "No entries match (the log has {} entries).", self.log_size);
        }
        let mut rows = vec![COLUMNS.map(str::to_owned).to_vec()];
        for e in &self.entries {
            let mut action = e.action.to_string();
            if let Some(m) = e.marker() {
                action = format!("{action} ({m})");
            }
            rows.push(vec![
                human_time(e.entry.at_us),
                e.organisation_label(),
                opt(&e.user),
                action,
                e.decision.to_owned(),
                e.reason.to_string(),
                opt(&e.case_id),
                opt(&e.consent_id),
                opt(&e.envelope_id),
            ]);
        }
        f.write_str(&table(&rows))?;
        write!(
            f,
            "{} {} (of {} in the log).",
            self.entries.len(),
            if self.entries.len() == 1 { "entry" } else { "entries" },
            self.log_size
        )
    }
}

impl Session {
    /// `audit log`: the entries matching `query`, each decoded and its index checked.
    pub async fn audit_log(&self, query: &AuditQuery) -> Result<AuditLog, ClientError> {
        let (entries, log_size) = fetch_entries(self, query).await?;
        let dir = directory(self).await;
        Ok(AuditLog { entries: entries.into_iter().map(|e| AuditEntry::new(e, &dir)).collect(), log_size })
    }
}
