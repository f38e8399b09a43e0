//! The access-log routes (`docs/api.md`, "The access log"): checkpoints and proofs for every
//! principal, witness keys and cosignatures, and entries and leaf hashes for auditors.
//!
//! These methods only fetch and decode; verifying what they return is the caller's job
//! (`crate::logcheck`, `crate::audit`), with `samordna_core::log`.

use reqwest::Url;
use samordna_core::{
    CaseId, HsaId, PrincipalId,
    api::{
        CheckpointList, ConsistencyProof, EntryList, InclusionProof, Leaves, LogKey, PostCosignature,
        SignedCheckpoint, WitnessEntry, WitnessList,
    },
    audit::Action,
    log::{Decision, note::MAX_NOTE_LEN},
    signed::SignedStatement,
};

use super::{Answer, RelayClient, RelayError, RelayMeta};

/// The filters of `GET /v1/log/entries`. Times are microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// First index to return.
    pub start: u64,
    /// At most this many (the relay caps it at 5000; `None` for its default of 1000).
    pub count: Option<u64>,
    /// Only this case.
    pub case: Option<CaseId>,
    /// Only entries where this principal acted.
    pub principal: Option<PrincipalId>,
    /// Only entries where this person or system acted.
    pub user: Option<HsaId>,
    /// Only this action.
    pub action: Option<Action>,
    /// Only allowed, or only refused, requests.
    pub decision: Option<Decision>,
    /// From this time (inclusive).
    pub from_us: Option<i64>,
    /// Before this time (exclusive).
    pub to_us: Option<i64>,
}

impl EntryFilter {
    fn apply(&self, url: &mut Url) {
        let mut q = url.query_pairs_mut();
        q.append_pair("start", &self.start.to_string());
        if let Some(c) = self.count {
            q.append_pair("count", &c.to_string());
        }
        if let Some(c) = &self.case {
            q.append_pair("case", c.as_str());
        }
        if let Some(p) = &self.principal {
            q.append_pair("principal", p.as_str());
        }
        if let Some(u) = &self.user {
            q.append_pair("user", u.as_str());
        }
        if let Some(a) = self.action {
            q.append_pair("action", a.as_str());
        }
        if let Some(d) = self.decision {
            q.append_pair("decision", if d == Decision::Allow { "allow" } else { "deny" });
        }
        if let Some(f) = self.from_us {
            q.append_pair("from", &f.to_string());
        }
        if let Some(t) = self.to_us {
            q.append_pair("to", &t.to_string());
        }
    }
}

impl RelayClient {
    fn url_with(&self, path: &str, pairs: &[(&str, String)]) -> Result<Url, RelayError> {
        let mut url = self.url(path)?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// `GET /v1/log/key`: the origin and verifier key the relay *claims*. Compare it with the key
    /// the operator gave you; never trust it on its own.
    pub async fn log_key(&self) -> Result<Answer<LogKey>, RelayError> {
        self.json(self.get("v1/log/key")?).await
    }

    /// `GET /v1/log/checkpoint`: the newest signed checkpoint (a signed note), with every
    /// witness's cosignature line.
    pub async fn log_checkpoint(&self) -> Result<Answer<String>, RelayError> {
        let resp = self.send(self.get("v1/log/checkpoint")?).await?;
        let status = resp.status().as_u16();
        let meta = RelayMeta::from_headers(resp.headers());
        let body = self.read_limited(resp, MAX_NOTE_LEN).await?;
        let value = String::from_utf8(body).map_err(|_| RelayError::Protocol {
            status: Some(status),
            detail: "the checkpoint is not UTF-8 text".into(),
            request_id: meta.request_id.clone(),
        })?;
        Ok(Answer { value, status, meta })
    }

    /// `GET /v1/log/checkpoints?from=N`: signed checkpoints of at least `from` entries, smallest
    /// first, at most 1000 per answer.
    pub async fn log_checkpoints(&self, from: u64) -> Result<Answer<CheckpointList>, RelayError> {
        self.json(self.http.get(self.url_with("v1/log/checkpoints", &[("from", from.to_string())])?)).await
    }

    /// `GET /v1/log/proof/consistency?old=&new=`.
    pub async fn log_consistency(&self, old: u64, new: u64) -> Result<Answer<ConsistencyProof>, RelayError> {
        let url =
            self.url_with("v1/log/proof/consistency", &[("old", old.to_string()), ("new", new.to_string())])?;
        self.json(self.http.get(url)).await
    }

    /// `GET /v1/log/proof/inclusion?index=&size=`.
    pub async fn log_inclusion(&self, index: u64, size: u64) -> Result<Answer<InclusionProof>, RelayError> {
        let url = self.url_with(
            "v1/log/proof/inclusion",
            &[("index", index.to_string()), ("size", size.to_string())],
        )?;
        self.json(self.http.get(url)).await
    }

    /// `GET /v1/log/leaves?start=&count=` (auditors; logged).
    pub async fn log_leaves(&self, start: u64, count: u64) -> Result<Answer<Leaves>, RelayError> {
        let url =
            self.url_with("v1/log/leaves", &[("start", start.to_string()), ("count", count.to_string())])?;
        self.json(self.http.get(url)).await
    }

    /// `GET /v1/log/entries?…` (auditors; logged): one page of the entries the caller may see.
    pub async fn log_entries(&self, filter: &EntryFilter) -> Result<Answer<EntryList>, RelayError> {
        let mut url = self.url("v1/log/entries")?;
        filter.apply(&mut url);
        self.json(self.http.get(url)).await
    }

    /// `GET /v1/log/witnesses`: every published witness key with its principal's attestation.
    pub async fn log_witnesses(&self) -> Result<Answer<WitnessList>, RelayError> {
        self.json(self.get("v1/log/witnesses")?).await
    }

    /// `POST /v1/log/witnesses`: publishes our principal's witness key (a signed statement).
    pub async fn publish_witness(
        &self,
        attestation: &SignedStatement,
    ) -> Result<Answer<WitnessEntry>, RelayError> {
        self.json(self.post("v1/log/witnesses", attestation)?).await
    }

    /// `POST /v1/log/cosignatures`: our cosignature of the checkpoint of `size` entries.
    pub async fn post_cosignature(
        &self,
        cosignature: &PostCosignature,
    ) -> Result<Answer<SignedCheckpoint>, RelayError> {
        self.json(self.post("v1/log/cosignatures", cosignature)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_query_parameters() {
        let mut url = Url::parse("https://relay.example/v1/log/entries").unwrap();
        EntryFilter {
            start: 7,
            count: Some(5000),
            case: Some(CaseId::parse("S-01JDQ7Z5W6V8T9R0S1N2M3K4H5").unwrap()),
            action: Some(Action::EnvelopeFetch),
            decision: Some(Decision::Deny),
            from_us: Some(-5),
            to_us: Some(10),
            ..EntryFilter::default()
        }
        .apply(&mut url);
        assert_eq!(
            url.query(),
            Some(
                "start=7&count=5000&case=S-01JDQ7Z5W6V8T9R0S1N2M3K4H5&action=envelope_fetch&decision=deny&from=-5&to=10"
            )
        );
    }
}
