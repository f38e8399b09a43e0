//! Test support: a development federation on disk, and a small stand-in for the relay that speaks
//! the routes of `docs/api.md` over real mutual TLS (rustls, on plain threads).
//!
//! The stand-in is not the relay: it keeps its state in memory and checks only what the client's
//! tests need (signatures, the caller's identity, consent on send). What it proves is that the
//! client speaks the contract: paths, bodies, headers, status codes, streaming, TLS.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    fs,
    io::{self, BufRead, BufReader, Cursor, Write},
    net::{TcpListener, TcpStream},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    thread,
};

use rustls::{
    RootCertStore, ServerConfig, ServerConnection, StreamOwned,
    pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use samordna_core::{
    CaseId, ConsentId, EnvelopeId, HsaId, Identity, PrincipalId, TrustStore,
    api::{
        CaseStatus, CaseView, ConsentStatus, ConsentView, DeliveryStatus, Directory, EnvelopeStored, Inbox,
        InboxItem, KeyList, KeyPublished, OpenCase, PrincipalEntry, PrincipalKind, RecipientStatus,
    },
    attestation::KeyAttestation,
    consent::{ConsentPolicy, ConsentState, SignedConsent, check_record, check_send},
    devpki::{DevCa, Issued, PersonSpec, Usage},
    envelope::{Header, Party, read_signed_header},
    profile::ProfileConfig,
    receipt::DeliveryReceipt,
};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

pub const KOMMUN: &str = "SE2120000449";
pub const REGION: &str = "SE2321000032";
pub const SKOLA: &str = "SE5569875437";

pub fn p(s: &str) -> PrincipalId {
    PrincipalId::parse(s).unwrap()
}

/// A federation: a root, its CRL, a relay certificate, people.
pub struct Federation {
    pub dir: tempfile::TempDir,
    pub ca: DevCa,
    pub now: OffsetDateTime,
}

impl Federation {
    pub fn new() -> Self {
        let now = OffsetDateTime::now_utc();
        let ca = DevCa::new("Samordna testfederation", now - Duration::days(1), now + Duration::days(3650))
            .unwrap();
        Federation { dir: tempfile::tempdir().unwrap(), ca, now }
    }

    pub fn crl(&self, revoked: &[u64]) -> String {
        self.ca.crl(1, revoked, self.now - Duration::hours(1), self.now + Duration::days(30)).unwrap()
    }

    pub fn person(&self, principal: &str, org: &str, name: &str, hsa: &str) -> Issued {
        self.ca
            .issue_person(&PersonSpec {
                principal: p(principal),
                organisation: org.into(),
                name: name.into(),
                hsa_id: HsaId::parse(hsa).unwrap(),
                not_before: self.now - Duration::hours(1),
                not_after: self.now + Duration::days(365),
                usage: Usage::ClientAndSigning,
            })
            .unwrap()
    }

    pub fn server(&self) -> Issued {
        self.ca
            .issue_server(
                &["localhost", "127.0.0.1"],
                self.now - Duration::hours(1),
                self.now + Duration::days(365),
            )
            .unwrap()
    }

    /// Writes a profile directory for `person`, talking to `relay_url`, trusting `crl`.
    pub fn profile(&self, name: &str, person: &Issued, relay_url: &str, crl: &str) -> PathBuf {
        let dir = self.dir.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cert.pem"), &person.cert_pem).unwrap();
        fs::write(dir.join("key.pem"), &person.key_pem).unwrap();
        fs::set_permissions(dir.join("key.pem"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(dir.join("root-ca.pem"), &self.ca.root().cert_pem).unwrap();
        fs::write(dir.join("crl.pem"), crl).unwrap();
        let config = ProfileConfig {
            relay_url: relay_url.into(),
            certificate: "cert.pem".into(),
            private_key: "key.pem".into(),
            root_ca: "root-ca.pem".into(),
            crl: vec!["crl.pem".into()],
            relay_log_key: None,
        };
        fs::write(dir.join("profile.toml"), toml::to_string(&config).unwrap()).unwrap();
        dir
    }
}

/// What the stand-in holds.
#[derive(Default)]
pub struct State {
    pub directory: Vec<PrincipalEntry>,
    pub keys: Vec<KeyAttestation>,
    pub cases: Vec<CaseView>,
    pub envelopes: Vec<StoredEnvelope>,
    pub log: u64,
    /// Store the next upload, then drop the connection without answering (a lost answer).
    pub drop_after_storing_next_put: bool,
    /// Flip one ciphertext byte in served envelopes.
    pub tamper_downloads: bool,
    /// `(content-type, content-length)` of every upload, and whether it was chunked.
    pub puts: Vec<(Option<String>, Option<u64>, bool)>,
}

pub struct StoredEnvelope {
    pub id: EnvelopeId,
    pub bytes: Vec<u8>,
    pub header: Header,
    pub header_sha256: [u8; 32],
    pub stored_at: OffsetDateTime,
    pub fetched: HashMap<PrincipalId, OffsetDateTime>,
    pub receipts: HashMap<PrincipalId, DeliveryReceipt>,
}

pub struct MockRelay {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

struct Request {
    method: String,
    path: String,
    query: Option<String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    chunked: bool,
}

enum Answer {
    Json(u16, Value),
    Bytes(u16, Vec<u8>),
    Drop,
}

fn refuse(status: u16, code: &str, message: &str) -> Answer {
    Answer::Json(status, json!({"error": {"code": code, "message": message, "request_id": "mock-req"}}))
}

impl MockRelay {
    /// Starts the stand-in with `server` as its certificate, trusting `root_pem` and `crl_pem`
    /// for clients.
    pub fn start(server: &Issued, root_pem: &str, crl_pem: &str) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let crls: Vec<CertificateRevocationListDer<'static>> =
            CertificateRevocationListDer::pem_slice_iter(crl_pem.as_bytes()).map(|c| c.unwrap()).collect();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .with_crls(crls)
            .build()
            .unwrap();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(server.cert_pem.as_bytes()).map(|c| c.unwrap()).collect();
        let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap();
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let trust = Arc::new(TrustStore::from_pem(root_pem.as_bytes(), &[crl_pem.as_bytes()]).unwrap());

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State {
            directory: vec![
                entry(KOMMUN, "Linköpings kommun", PrincipalKind::Municipality),
                entry(REGION, "Region Östergötland", PrincipalKind::Region),
                entry(SKOLA, "Stångåskolan AB", PrincipalKind::School),
            ],
            ..State::default()
        }));
        let shared = state.clone();
        thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let (config, state, trust) = (config.clone(), shared.clone(), trust.clone());
                thread::spawn(move || serve(tcp, config, state, trust));
            }
        });
        MockRelay { url, state }
    }
}

fn entry(id: &str, name: &str, kind: PrincipalKind) -> PrincipalEntry {
    PrincipalEntry { id: p(id), name: name.into(), kind, enabled: true }
}

fn serve(tcp: TcpStream, config: Arc<ServerConfig>, state: Arc<Mutex<State>>, trust: Arc<TrustStore>) {
    let Ok(conn) = ServerConnection::new(config) else { return };
    let mut stream = BufReader::new(StreamOwned::new(conn, tcp));
    loop {
        let req = match read_request(&mut stream) {
            Ok(Some(r)) => r,
            _ => return, // EOF, or a TLS failure (the alert has been sent)
        };
        let caller = stream
            .get_ref()
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| Identity::from_certificate(c).ok());
        let Some(caller) = caller else { return };
        let answer = handle(&req, &caller, &mut state.lock().unwrap(), &trust);
        let (status, body, ctype) = match answer {
            Answer::Json(s, v) => (s, serde_json::to_vec(&v).unwrap(), "application/json"),
            Answer::Bytes(s, b) => (s, b, "application/vnd.samordna.envelope"),
            Answer::Drop => {
                let _ = stream.get_mut().sock.shutdown(std::net::Shutdown::Both);
                return;
            }
        };
        let log_index = {
            let mut s = state.lock().unwrap();
            s.log += 1;
            s.log
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nSamordna-Request-Id: req-{log_index}\r\nSamordna-Log-Index: {log_index}\r\n\r\n",
            body.len()
        );
        let w = stream.get_mut();
        if w.write_all(head.as_bytes()).and_then(|()| w.write_all(&body)).and_then(|()| w.flush()).is_err() {
            return;
        }
    }
}

fn read_request<R: BufRead>(r: &mut R) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target, None),
    };
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    let chunked = headers.get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).map_err(io::Error::other)?;
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = headers.get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(Request { method, path, query, headers, body, chunked }))
}

fn consent_view(record: SignedConsent, now: OffsetDateTime) -> ConsentView {
    let m = record.unverified_metadata().unwrap();
    let status = if now < m.valid_from {
        ConsentStatus::NotYetValid
    } else if now >= m.valid_until {
        ConsentStatus::Expired
    } else {
        ConsentStatus::Active
    };
    ConsentView {
        record,
        status,
        recorded_at: now.replace_nanosecond(0).unwrap(),
        withdrawn_at: None,
        blocked_parties: vec![],
        blocked_kinds: vec![],
        superseded_by: None,
        changes: vec![],
    }
}

fn handle(req: &Request, caller: &Identity, s: &mut State, trust: &TrustStore) -> Answer {
    let now = OffsetDateTime::now_utc();
    let me = &caller.principal;
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let body_json = || serde_json::from_slice::<Value>(&req.body);
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["v1", "principals"]) => {
            Answer::Json(200, serde_json::to_value(Directory { principals: s.directory.clone() }).unwrap())
        }
        ("GET", ["v1", "principals", id, "keys"]) => {
            let Ok(id) = PrincipalId::parse(id) else { return refuse(400, "malformed", "bad id") };
            let keys = s
                .keys
                .iter()
                .filter(|k| k.unverified_statement().is_ok_and(|st| st.principal == id))
                .cloned()
                .collect();
            Answer::Json(200, serde_json::to_value(KeyList { principal: id, keys }).unwrap())
        }
        ("POST", ["v1", "keys"]) => {
            let Ok(att) = serde_json::from_slice::<KeyAttestation>(&req.body) else {
                return refuse(400, "malformed", "not an attestation");
            };
            let Ok(k) = att.verify(trust, now) else {
                return refuse(400, "signature_invalid", "does not verify");
            };
            if k.statement.principal != *me {
                return refuse(403, "forbidden", "a principal publishes only its own keys");
            }
            let dup = s.keys.contains(&att);
            if !dup {
                s.keys.insert(0, att);
            }
            Answer::Json(
                if dup { 200 } else { 201 },
                serde_json::to_value(KeyPublished { key_id: k.statement.key_id }).unwrap(),
            )
        }
        ("POST", ["v1", "cases"]) => {
            let Ok(open) = serde_json::from_slice::<OpenCase>(&req.body) else {
                return refuse(400, "malformed", "bad body");
            };
            let view = CaseView {
                case_id: open.case_id,
                lead_principal: open.lead_principal.clone(),
                status: CaseStatus::Open,
                opened_by: Party { principal: me.clone(), user: caller.hsa_id.clone() },
                opened_at: now.replace_nanosecond(0).unwrap(),
                participants: vec![open.lead_principal],
                consents: vec![],
                closed_at: None,
                history: vec![],
            };
            s.cases.push(view.clone());
            Answer::Json(201, serde_json::to_value(view).unwrap())
        }
        ("GET", ["v1", "cases", id]) => {
            let Ok(id) = CaseId::parse(id) else { return refuse(400, "malformed", "bad id") };
            match s.cases.iter().find(|c| c.case_id == id) {
                Some(c) => Answer::Json(200, serde_json::to_value(c).unwrap()),
                None => refuse(404, "not_found", "no such case"),
            }
        }
        ("POST", ["v1", "consents"]) => {
            let Ok(signed) = serde_json::from_slice::<SignedConsent>(&req.body) else {
                return refuse(400, "malformed", "bad body");
            };
            let Ok(m) = signed.verify(trust, now) else {
                return refuse(400, "signature_invalid", "does not verify");
            };
            if m.recorded_by.principal != *me || m.recorded_by.user != caller.hsa_id {
                return refuse(403, "forbidden", "not the recorder");
            }
            if let Err(d) = check_record(&m, &ConsentPolicy::default()) {
                return refuse(422, d.reason.as_str(), &d.message);
            }
            let Some(case) = s.cases.iter_mut().find(|c| c.case_id == m.case_id) else {
                return refuse(404, "not_found", "no such case");
            };
            let view = consent_view(signed, now);
            for party in &m.parties {
                if !case.participants.contains(party) {
                    case.participants.push(party.clone());
                }
            }
            case.consents.push(view.clone());
            Answer::Json(201, serde_json::to_value(view).unwrap())
        }
        ("GET", ["v1", "consents", id]) => {
            let Ok(id) = ConsentId::parse(id) else { return refuse(400, "malformed", "bad id") };
            let found = s
                .cases
                .iter()
                .flat_map(|c| &c.consents)
                .find(|v| v.metadata().is_some_and(|m| m.consent_id == id));
            match found {
                Some(v) => Answer::Json(200, serde_json::to_value(v).unwrap()),
                None => refuse(404, "not_found", "no such consent"),
            }
        }
        ("PUT", ["v1", "envelopes", id]) => {
            s.puts.push((
                req.headers.get("content-type").cloned(),
                req.headers.get("content-length").and_then(|v| v.parse().ok()),
                req.chunked,
            ));
            let Ok(id) = EnvelopeId::parse(id) else { return refuse(400, "malformed", "bad id") };
            if let Some(e) = s.envelopes.iter().find(|e| e.id == id) {
                if e.bytes == req.body {
                    let stored = EnvelopeStored {
                        envelope_id: id,
                        header_sha256: e.header_sha256,
                        stored_at: e.stored_at,
                        duplicate: true,
                    };
                    return Answer::Json(200, serde_json::to_value(stored).unwrap());
                }
                return refuse(409, "conflict", "another envelope has this id");
            }
            let mut cursor = Cursor::new(&req.body[..]);
            let header = match read_signed_header(&mut cursor, trust, now) {
                Ok(h) => h,
                Err(e) => return refuse(400, "signature_invalid", &e.to_string()),
            };
            if header.header.envelope_id != id {
                return refuse(400, "malformed", "the path and the header name different envelopes");
            }
            if header.header.sender.principal != *me || header.header.sender.user != caller.hsa_id {
                return refuse(403, "sender_mismatch", "the header names another sender");
            }
            let rest = req.body.len() as u64 - cursor.position();
            if rest != header.header.ciphertext.length {
                return refuse(400, "ciphertext_mismatch", "length differs from the header");
            }
            let h = &header.header;
            let Some(case) = s.cases.iter().find(|c| c.case_id == h.case_id) else {
                return refuse(404, "not_found", "no such case");
            };
            let Some(view) =
                case.consents.iter().find(|v| v.metadata().is_some_and(|m| m.consent_id == h.consent_id))
            else {
                return refuse(403, "no_consent", "no such consent");
            };
            let m = view.metadata().unwrap();
            let state = ConsentState {
                metadata: &m,
                withdrawn_at: view.withdrawn_at,
                blocked_parties: &view.blocked_parties,
                blocked_kinds: &view.blocked_kinds,
                superseded_by: view.superseded_by.as_ref(),
            };
            if let Err(d) = check_send(&state, &h.case_id, me, &h.recipient_principals(), h.content_kind, now)
            {
                return refuse(403, d.reason.as_str(), &d.message);
            }
            let stored_at = now.replace_nanosecond(0).unwrap();
            let header_sha256 = header.header_sha256();
            s.envelopes.push(StoredEnvelope {
                id: id.clone(),
                bytes: req.body.clone(),
                header: header.header,
                header_sha256,
                stored_at,
                fetched: HashMap::new(),
                receipts: HashMap::new(),
            });
            if std::mem::take(&mut s.drop_after_storing_next_put) {
                return Answer::Drop;
            }
            let stored = EnvelopeStored { envelope_id: id, header_sha256, stored_at, duplicate: false };
            Answer::Json(201, serde_json::to_value(stored).unwrap())
        }
        ("GET", ["v1", "inbox"]) => {
            let case = req
                .query
                .as_deref()
                .and_then(|q| q.strip_prefix("case="))
                .and_then(|c| CaseId::parse(c).ok());
            let items = s
                .envelopes
                .iter()
                .rev()
                .filter(|e| e.header.recipient_principals().contains(&me))
                .filter(|e| case.as_ref().is_none_or(|c| e.header.case_id == *c))
                .map(|e| InboxItem {
                    envelope_id: e.id.clone(),
                    case_id: e.header.case_id.clone(),
                    consent_id: e.header.consent_id.clone(),
                    sender: e.header.sender.clone(),
                    content_kind: e.header.content_kind,
                    created: e.header.created,
                    received_at: e.stored_at,
                    size: e.bytes.len() as u64,
                    fetched_at: e.fetched.get(me).copied(),
                    receipt_posted: e.receipts.contains_key(me),
                })
                .collect();
            Answer::Json(200, serde_json::to_value(Inbox { items, notices: vec![] }).unwrap())
        }
        ("GET", ["v1", "envelopes", id]) => {
            let tamper = s.tamper_downloads;
            let Some(e) =
                EnvelopeId::parse(id).ok().and_then(|id| s.envelopes.iter_mut().find(|e| e.id == id))
            else {
                return refuse(404, "not_found", "no such envelope");
            };
            if !e.header.recipient_principals().contains(&me) {
                return refuse(404, "not_found", "no such envelope");
            }
            e.fetched.entry(me.clone()).or_insert(now.replace_nanosecond(0).unwrap());
            let mut bytes = e.bytes.clone();
            if tamper {
                let last = bytes.len() - 20;
                bytes[last] ^= 1;
            }
            Answer::Bytes(200, bytes)
        }
        ("POST", ["v1", "envelopes", id, "receipt"]) => {
            let Ok(receipt) = serde_json::from_slice::<DeliveryReceipt>(&req.body) else {
                return refuse(400, "malformed", "bad body");
            };
            let Some(e) =
                EnvelopeId::parse(id).ok().and_then(|id| s.envelopes.iter_mut().find(|e| e.id == id))
            else {
                return refuse(404, "not_found", "no such envelope");
            };
            if receipt.verify(trust, now, &e.id, &e.header_sha256).is_err() {
                return refuse(400, "signature_invalid", "the receipt does not verify");
            }
            e.receipts.insert(me.clone(), receipt);
            Answer::Json(201, json!({}))
        }
        ("GET", ["v1", "envelopes", id, "status"]) => {
            let Some(e) = EnvelopeId::parse(id).ok().and_then(|id| s.envelopes.iter().find(|e| e.id == id))
            else {
                return refuse(404, "not_found", "no such envelope");
            };
            if e.header.sender.principal != *me {
                return refuse(404, "not_found", "no such envelope");
            }
            let recipients = e
                .header
                .recipient_principals()
                .into_iter()
                .map(|r| RecipientStatus {
                    principal: r.clone(),
                    fetched_at: e.fetched.get(r).copied(),
                    receipt: e.receipts.get(r).cloned(),
                })
                .collect();
            let status = DeliveryStatus {
                envelope_id: e.id.clone(),
                header_sha256: e.header_sha256,
                recipients,
                deleted_at: None,
            };
            Answer::Json(200, serde_json::to_value(status).unwrap())
        }
        _ => {
            let _ = body_json;
            refuse(404, "not_found", "no such route")
        }
    }
}

/// Reads a whole file, for comparisons.
pub fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap()
}
