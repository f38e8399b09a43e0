//! `audit stats`: the yearly follow-up from the access log: SIP cases opened, consents recorded,
//! withdrawn and blocked, refusals by reason, each per principal, and how long people waited from a
//! case being opened to the first meeting invitation (the first allowed upload of kind `meeting`
//! in the case). Counts cover what the auditor may see, in `[from, to)`.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt,
};

use samordna_core::{
    CaseId, ContentKind, PrincipalId,
    audit::{Action, Reason},
    log::LogEntry,
};
use serde::Serialize;
use time::OffsetDateTime;

use super::{AuditQuery, fetch_entries, table};
use crate::{
    error::ClientError,
    input::human_date,
    logcheck::directory,
    ops::{NamedPrincipal, Session},
};

const DAY_US: f64 = 86_400_000_000.0;

/// Counts for one principal.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// SIP cases opened.
    pub cases_opened: u64,
    /// Consents recorded.
    pub consents_recorded: u64,
    /// Consents withdrawn.
    pub consents_withdrawn: u64,
    /// Blocks (*spärr*) recorded.
    pub consents_blocked: u64,
    /// Requests refused.
    pub refusals: u64,
}

/// One principal's row.
#[derive(Clone, Debug, Serialize)]
pub struct PrincipalCounts {
    /// The principal.
    pub principal: NamedPrincipal,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// Refusals for one reason.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReasonCount {
    /// The reason.
    pub reason: Reason,
    /// How many.
    pub count: u64,
}

/// From case opened to the first meeting invitation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeToMeeting {
    /// Cases opened in the period.
    pub cases: u64,
    /// Of those, cases with a meeting invitation sent in the period.
    pub with_invitation: u64,
    /// The median of the days from opening to the first invitation, to one decimal.
    pub median_days: Option<f64>,
}

/// Consents recorded and withdrawn in one calendar month (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MonthCounts {
    /// The month, `2026-03`.
    pub month: String,
    /// Consents recorded.
    pub consents_recorded: u64,
    /// Consents withdrawn.
    pub consents_withdrawn: u64,
}

/// How long one case waited from being opened to its first meeting invitation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseWait {
    /// The case.
    pub case_id: CaseId,
    /// Days from opening to the first invitation, to one decimal.
    pub days: f64,
}

/// Everything [`compute`] counts, with the series the web interface draws as charts.
#[derive(Clone, Debug, PartialEq)]
pub struct Computed {
    /// All principals together.
    pub total: Counts,
    /// Refusals by reason, most frequent first.
    pub refusals_by_reason: Vec<ReasonCount>,
    /// Per acting principal.
    pub per_principal: BTreeMap<PrincipalId, Counts>,
    /// Case opened to first meeting invitation.
    pub time_to_first_meeting: TimeToMeeting,
    /// Consents recorded and withdrawn per month, the months with any, in order.
    pub per_month: Vec<MonthCounts>,
    /// Each invited case's wait, shortest first.
    pub first_meeting_waits: Vec<CaseWait>,
}

/// `audit stats`.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    /// From (inclusive), RFC 3339.
    pub from: String,
    /// To (exclusive), RFC 3339.
    pub to: String,
    /// Entries read.
    pub entries: u64,
    /// All principals together.
    pub total: Counts,
    /// Refusals by reason, most frequent first.
    pub refusals_by_reason: Vec<ReasonCount>,
    /// Per acting principal.
    pub per_principal: Vec<PrincipalCounts>,
    /// Case opened to first meeting invitation.
    pub time_to_first_meeting: TimeToMeeting,
    /// Consents recorded and withdrawn per month (UTC), the months with any.
    pub per_month: Vec<MonthCounts>,
    /// Each case invited in the period: days from opening to the first invitation.
    pub first_meeting_waits: Vec<CaseWait>,
}

/// The median of `values` (sorted here); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

/// Counts `entries` (already limited to the period).
pub fn compute(
    entries: &[LogEntry],
) -> (Counts, Vec<ReasonCount>, BTreeMap<PrincipalId, Counts>, TimeToMeeting) {
    let c = compute_all(entries);
    (c.total, c.refusals_by_reason, c.per_principal, c.time_to_first_meeting)
}

/// `2026-03`, the UTC month of a log time.
fn month_of(at_us: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}", t.year(), u8::from(t.month()))
}

/// As [`compute`], with the monthly series and each case's wait.
pub fn compute_all(entries: &[LogEntry]) -> Computed {
    let mut months: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut total = Counts::default();
    let mut per: BTreeMap<PrincipalId, Counts> = BTreeMap::new();
    let mut reasons: BTreeMap<Reason, u64> = BTreeMap::new();
    // Retried requests are logged again: count each case and consent once per kind of event.
    let mut seen: BTreeSet<(Action, String)> = BTreeSet::new();
    let mut opened: HashMap<CaseId, i64> = HashMap::new();
    let mut invited: HashMap<CaseId, i64> = HashMap::new();
    for e in entries {
        if !e.reason.is_ok() {
            total.refusals += 1;
            *reasons.entry(e.reason).or_default() += 1;
            if let Some(p) = &e.actor_principal {
                per.entry(p.clone()).or_default().refusals += 1;
            }
            continue;
        }
        let key = match e.action {
            Action::CaseOpen => e.case_id.as_ref().map(ToString::to_string),
            Action::ConsentRecord | Action::ConsentWithdraw | Action::ConsentBlock => {
                let object = e.object.as_ref().map(|o| o.as_str().to_owned()).unwrap_or_default();
                e.consent_id.as_ref().map(|c| format!("{c}/{object}"))
            }
            _ => None,
        };
        if let Some(k) = key {
            if !seen.insert((e.action, k)) {
                continue;
            }
            let bump = |c: &mut Counts| match e.action {
                Action::CaseOpen => c.cases_opened += 1,
                Action::ConsentRecord => c.consents_recorded += 1,
                Action::ConsentWithdraw => c.consents_withdrawn += 1,
                _ => c.consents_blocked += 1,
            };
            bump(&mut total);
            if let Some(p) = &e.actor_principal {
                bump(per.entry(p.clone()).or_default());
            }
            match e.action {
                Action::ConsentRecord => months.entry(month_of(e.at_us)).or_default().0 += 1,
                Action::ConsentWithdraw => months.entry(month_of(e.at_us)).or_default().1 += 1,
                _ => {}
            }
        }
        match (e.action, &e.case_id) {
            (Action::CaseOpen, Some(c)) => {
                opened.entry(c.clone()).or_insert(e.at_us);
            }
            (Action::EnvelopeUpload, Some(c))
                if e.object.as_ref().is_some_and(|o| o.as_str() == ContentKind::Meeting.as_str()) =>
            {
                let first = invited.entry(c.clone()).or_insert(e.at_us);
                *first = (*first).min(e.at_us);
            }
            _ => {}
        }
    }
    let mut waits: Vec<(CaseId, f64)> = opened
        .iter()
        .filter_map(|(case, t0)| {
            invited.get(case).filter(|t1| **t1 >= *t0).map(|t1| (case.clone(), (t1 - t0) as f64 / DAY_US))
        })
        .collect();
    let mut days: Vec<f64> = waits.iter().map(|w| w.1).collect();
    let with_invitation = days.len() as u64;
    let median_days = median(&mut days).map(|d| (d * 10.0).round() / 10.0);
    waits.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mut by_reason: Vec<ReasonCount> =
        reasons.into_iter().map(|(reason, count)| ReasonCount { reason, count }).collect();
    by_reason.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    Computed {
        total,
        refusals_by_reason: by_reason,
        per_principal: per,
        time_to_first_meeting: TimeToMeeting { cases: opened.len() as u64, with_invitation, median_days },
        per_month: months
            .into_iter()
            .map(|(month, (consents_recorded, consents_withdrawn))| MonthCounts {
                month,
                consents_recorded,
                consents_withdrawn,
            })
            .collect(),
        first_meeting_waits: waits
            .into_iter()
            .map(|(case_id, days)| CaseWait { case_id, days: (days * 10.0).round() / 10.0 })
            .collect(),
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Access-log statistics from {} to {} (UTC, end exclusive), {} entries",
            self.from, self.to, self.entries
        )?;
        let t = &self.total;
        writeln!(f, "  SIP cases opened:     {}", t.cases_opened)?;
        writeln!(f, "  consents recorded:    {}", t.consents_recorded)?;
        writeln!(f, "  consents withdrawn:   {}", t.consents_withdrawn)?;
        writeln!(f, "  blocks (spärr):       {}", t.consents_blocked)?;
        writeln!(f, "  refusals:             {}", t.refusals)?;
        let m = &self.time_to_first_meeting;
        match m.median_days {
            Some(d) => writeln!(
                f,
                "  case opened to first meeting invitation: median {d:.1} days ({} of {} cases invited)",
                m.with_invitation, m.cases
            )?,
            None => writeln!(
                f,
                "  case opened to first meeting invitation: no invitation in {} cases opened",
                m.cases
            )?,
        }
        if !self.refusals_by_reason.is_empty() {
            writeln!(f, "\nRefusals by reason:")?;
            for r in &self.refusals_by_reason {
                writeln!(f, "  {:>6}  {}", r.count, r.reason)?;
            }
        }
        if !self.per_principal.is_empty() {
            writeln!(f, "\nPer principal:")?;
            let mut rows = vec![
                ["Principal", "cases", "consents", "withdrawn", "blocks", "refusals"]
                    .map(str::to_owned)
                    .to_vec(),
            ];
            for p in &self.per_principal {
                let c = &p.counts;
                rows.push(vec![
                    p.principal.to_string(),
                    c.cases_opened.to_string(),
                    c.consents_recorded.to_string(),
                    c.consents_withdrawn.to_string(),
                    c.consents_blocked.to_string(),
                    c.refusals.to_string(),
                ]);
            }
            f.write_str(table(&rows).trim_end())?;
        }
        Ok(())
    }
}

impl Session {
    /// `audit stats`: counts from the entries in `[from, to)` the auditor may see.
    pub async fn audit_stats(&self, from: OffsetDateTime, to: OffsetDateTime) -> Result<Stats, ClientError> {
        if to <= from {
            return Err(ClientError::usage("usage", "--to must be after --from"));
        }
        let query = AuditQuery { from: Some(from), to: Some(to), ..AuditQuery::default() };
        let (entries, _) = fetch_entries(self, &query).await?;
        let Computed {
            total,
            refusals_by_reason,
            per_principal: per,
            time_to_first_meeting,
            per_month,
            first_meeting_waits,
        } = compute_all(&entries);
        let dir = directory(self).await;
        let fmt_day = |t: OffsetDateTime| {
            if t.time() == time::Time::MIDNIGHT {
                human_date(t)
            } else {
                samordna_core::encoding::rfc3339::format(t)
            }
        };
        Ok(Stats {
            from: fmt_day(from),
            to: fmt_day(to),
            entries: entries.len() as u64,
            total,
            refusals_by_reason,
            per_principal: per
                .into_iter()
                .map(|(p, counts)| PrincipalCounts { principal: NamedPrincipal::new(&dir, &p), counts })
                .collect(),
            time_to_first_meeting,
            per_month,
            first_meeting_waits,
        })
    }
}

#[cfg(test)]
mod tests {
    use samordna_core::log::{Marker, ObjectRef, RequestId};

    use super::*;

    fn e(index: u64, day: f64, action: Action, reason: Reason, case: &str, object: Option<&str>) -> LogEntry {
        LogEntry {
            index,
            at_us: (day * DAY_US) as i64,
            request_id: RequestId::parse("r").unwrap(),
            actor_principal: Some("SE2120000449".parse().unwrap()),
            actor_user: None,
            cert_fingerprint: None,
            action,
            reason,
            case_id: Some(CaseId::parse(case).unwrap()),
            consent_id: Some("K-01JDQ7Z5W6V8T9R0S1N2M3K4H6".parse().unwrap()),
            envelope_id: None,
            object: object.map(|o| ObjectRef::Marker(Marker::parse(o).unwrap())),
            peer: None,
        }
    }

    const A: &str = "S-01JDQ7Z5W6V8T9R0S1N2M3K4H5";
    const B: &str = "S-01JDQ7Z5W6V8T9R0S1N2M3K4H7";
    const C: &str = "S-01JDQ7Z5W6V8T9R0S1N2M3K4H8";

    #[test]
    fn counts_and_the_median_wait() {
        let entries = vec![
            e(0, 0.0, Action::CaseOpen, Reason::Ok, A, None),
            e(1, 0.0, Action::CaseOpen, Reason::Ok, A, None), // a retry: counted once
            e(2, 1.0, Action::CaseOpen, Reason::Ok, B, None),
            e(3, 2.0, Action::CaseOpen, Reason::Ok, C, None),
            e(4, 1.0, Action::ConsentRecord, Reason::Ok, A, None),
            e(5, 3.0, Action::EnvelopeUpload, Reason::Ok, A, Some("plan")),
            e(6, 4.0, Action::EnvelopeUpload, Reason::NoConsent, A, Some("meeting")), // refused: not an invitation
            e(7, 5.0, Action::EnvelopeUpload, Reason::Ok, A, Some("meeting")),
            e(8, 9.0, Action::EnvelopeUpload, Reason::Ok, A, Some("meeting")),
            e(9, 8.0, Action::EnvelopeUpload, Reason::Ok, B, Some("meeting")),
            e(10, 9.0, Action::ConsentWithdraw, Reason::Ok, A, Some("individual")),
            e(11, 9.5, Action::ConsentBlock, Reason::Ok, A, Some("plan")),
            e(12, 9.6, Action::EnvelopeFetch, Reason::ConsentWithdrawn, A, None),
        ];
        let (total, reasons, per, meeting) = compute(&entries);
        assert_eq!(
            total,
            Counts {
                cases_opened: 3,
                consents_recorded: 1,
                consents_withdrawn: 1,
                consents_blocked: 1,
                refusals: 2
            }
        );
        assert_eq!(reasons.len(), 2);
        assert_eq!(per.len(), 1);
        // A waited 5 days, B 7; C has no invitation.
        assert_eq!(meeting, TimeToMeeting { cases: 3, with_invitation: 2, median_days: Some(6.0) });
        let all = compute_all(&entries);
        assert_eq!(
            all.first_meeting_waits,
            vec![
                CaseWait { case_id: CaseId::parse(A).unwrap(), days: 5.0 },
                CaseWait { case_id: CaseId::parse(B).unwrap(), days: 7.0 }
            ]
        );
        // Day 1 and day 9 after 1970-01-01: one consent recorded and one withdrawn, in January.
        assert_eq!(
            all.per_month,
            vec![MonthCounts { month: "1970-01".into(), consents_recorded: 1, consents_withdrawn: 1 }]
        );
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut []), None);
    }
}
