//! The compliance officer's tools as an officer runs them: the real `samordna` binary against the
//! real relay, on SQLite and PostgreSQL. `audit log`, `audit verify` (clean, then after an entry is
//! edited in the database), the municipality's auditor kept to the municipality's cases, `audit
//! extract` as text, CSV and PDF (read back with `pdftotext`), `audit export --format fhir` read by
//! a real FHIR parser (Python's `fhir.resources`), `audit stats`; and a relay that rewinds its log
//! caught by the client's log check, with evidence kept, after `log check` and after any command.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use samordna_core::log::{LogEntry, Tree, merkle};
use samordna_tests::{
    COMMAND_TIME_LIMIT,
    relay::{Backend, TestRelay},
    run, run_within,
};
use serde_json::Value;

const KOMMUN: &str = "SE2120000449";
const REGION: &str = "SE2321000032";
const SKOLA: &str = "SE5569875437";
/// Anna Lind of the region, who fetches the plan.
const ANNA: &str = "SE2321000032-al01";

fn start(backend: Backend) -> Option<TestRelay> {
    let r = TestRelay::start(backend);
    if r.is_none() {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
    }
    r
}

/// Runs `samordna --json …` as `profile`: (exit code, JSON output, standard error).
fn samordna(relay: &TestRelay, profile: &str, args: &[&str]) -> (i32, Value, String) {
    let out = run(relay.client(profile).arg("--json").args(args));
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{args:?}: not JSON: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ok(relay: &TestRelay, profile: &str, args: &[&str]) -> Value {
    let (code, json, stderr) = samordna(relay, profile, args);
    assert_eq!(code, 0, "{profile} {args:?}: {json}\n{stderr}\nrelay log:\n{}", relay.log());
    json
}

/// Runs `samordna …` (no `--json`) as `profile`.
fn plain(relay: &TestRelay, profile: &str, args: &[&str]) -> Output {
    run(relay.client(profile).args(args))
}

fn string(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_owned()
}

fn require_tools() -> bool {
    std::env::var("SAMORDNA_REQUIRE_TEST_TOOLS").is_ok_and(|v| v == "1")
}

/// Records a consent for `case` between `parties` for plans, as `profile`; returns its id.
fn consent(relay: &TestRelay, profile: &str, case: &str, parties: &[&str]) -> String {
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(90)).date().to_string();
    let mut args = vec!["consent", "record", "--case", case];
    for p in parties {
        args.extend(["--party", p]);
    }
    args.extend([
        "--kind",
        "plan",
        "--until",
        &until,
        "--subject",
        "adult",
        "--grantor",
        "individual",
        "--form",
        "written",
    ]);
    let recorded = ok(relay, profile, &args);
    recorded["consent"]["consent_id"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| recorded.to_string().split('"').find(|s| s.starts_with("K-")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no consent id in {recorded}"))
}

/// A case opened by `lead` with a consent between `parties`, and a plan sent from `lead` to `to`
/// and fetched there. Returns (case, consent, envelope).
fn case_with_a_fetched_plan(
    relay: &TestRelay,
    work: &Path,
    lead: &str,
    parties: &[&str],
    to: (&str, &str),
) -> (String, String, String) {
    let case = string(&ok(relay, lead, &["case", "open"]), "case_id");
    let consent_id = consent(relay, lead, &case, parties);
    let plan = work.join(format!("{case}.json"));
    let text = include_str!("../../docs/spec/sip-plan-v1.example.json")
        .replace("S-3QQFC4FRDNN806FQVPN62MBSZF", &case);
    std::fs::write(&plan, text).unwrap();
    let sent =
        ok(relay, lead, &["send", plan.to_str().unwrap(), "--case", &case, "--to", to.1, "--kind", "plan"]);
    let envelope = string(&sent, "envelope_id");
    let received = work.join(format!("{case}-received.json"));
    ok(relay, to.0, &["fetch", &envelope, "--out", received.to_str().unwrap()]);
    (case, consent_id, envelope)
}

fn entries(v: &Value) -> &Vec<Value> {
    v["entries"].as_array().unwrap_or_else(|| panic!("no entries in {v}"))
}

fn cases_in(v: &Value) -> Vec<String> {
    entries(v).iter().filter_map(|e| e["case_id"].as_str().map(str::to_owned)).collect()
}

/// Runs Python `code` with the venv that has `fhir.resources`; `None` (and a loud message) when no
/// such Python is configured and the tools are not required.
fn fhir_python(code: &str, arg: &Path) -> Option<Output> {
    let Some(python) = std::env::var_os("SAMORDNA_FHIR_PYTHON").filter(|p| !p.is_empty()) else {
        assert!(
            !require_tools(),
            "SAMORDNA_FHIR_PYTHON is not set but SAMORDNA_REQUIRE_TEST_TOOLS=1: make the venv as .ci/run does"
        );
        eprintln!(
            "\n!!! SKIPPED: the FHIR R4 check of `audit export --format fhir` did not run: set \
             SAMORDNA_FHIR_PYTHON to a Python with fhir.resources (see .ci/run) !!!\n"
        );
        return None;
    };
    Some(run_within(Command::new(python).arg("-c").arg(code).arg(arg), COMMAND_TIME_LIMIT))
}

/// Parses the bundle with `fhir.resources` (R4B, the R4 line), each entry as an `AuditEvent`.
const FHIR_PARSE: &str = r#"
import json, sys
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.auditevent import AuditEvent
text = open(sys.argv[1], encoding="utf-8").read()
bundle = Bundle.model_validate_json(text) if hasattr(Bundle, "model_validate_json") else Bundle.parse_raw(text)
raw = json.loads(text)
events = []
for e in raw.get("entry", []):
    r = e["resource"]
    ev = AuditEvent.model_validate(r) if hasattr(AuditEvent, "model_validate") else AuditEvent.parse_obj(r)
    events.append(ev)
assert len(events) == len(bundle.entry or []), "entries"
print(json.dumps({"type": bundle.type, "count": len(events),
    "actions": sorted({ev.action for ev in events}),
    "agents": sorted({a.who.identifier.value for ev in events for a in ev.agent if a.who and a.who.identifier})}))
"#;

fn pdftotext(pdf: &Path) -> Option<String> {
    let txt = pdf.with_extension("txt");
    match Command::new("pdftotext").arg("-v").output() {
        Ok(_) => {}
        Err(_) => {
            assert!(!require_tools(), "pdftotext is missing but SAMORDNA_REQUIRE_TEST_TOOLS=1");
            eprintln!("\n!!! SKIPPED: the PDF extract check did not run: pdftotext is not installed !!!\n");
            return None;
        }
    }
    let out = run_within(
        Command::new("pdftotext").arg("-raw").arg("-enc").arg("UTF-8").arg(pdf).arg(&txt),
        COMMAND_TIME_LIMIT,
    );
    assert!(out.status.success(), "pdftotext failed");
    Some(std::fs::read_to_string(txt).unwrap())
}

/// Waits until the relay has signed a checkpoint over every entry in its database.
fn settle(relay: &TestRelay) {
    for _ in 0..100 {
        let n = relay.query("SELECT COUNT(*) FROM access_log")[0][0].clone().unwrap();
        let signed = relay.query("SELECT MAX(size) FROM log_checkpoints")[0][0].clone();
        if signed.as_deref() == Some(n.as_str()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the relay signed no checkpoint over all its entries within 10 s");
}

fn the_compliance_officers_tools(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let work = tempfile::tempdir().unwrap();
    for p in ["region", "municipality", "school"] {
        ok(&relay, p, &["keys", "init"]);
    }
    // A case of the municipality with the region, and one of the region with the school only.
    let (shared, shared_consent, shared_envelope) =
        case_with_a_fetched_plan(&relay, work.path(), "municipality", &[KOMMUN, REGION], ("region", REGION));
    let (region_only, _, _) =
        case_with_a_fetched_plan(&relay, work.path(), "region", &[REGION, SKOLA], ("school", SKOLA));
    settle(&relay);

    // audit verify on a clean log.
    let started = Instant::now();
    let report = ok(&relay, "auditor", &["audit", "verify"]);
    eprintln!("audit verify over {} entries: {:?}", report["log_size"], started.elapsed());
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["log_size"].as_u64().unwrap() >= 10, "{report}");
    assert!(report["entries_checked"].as_u64().unwrap() > 0, "{report}");

    // audit log: filters, JSON, CSV and the table.
    let fetches = ok(&relay, "auditor", &["audit", "log", "--case", &shared, "--action", "envelope_fetch"]);
    let fetch = entries(&fetches)
        .iter()
        .find(|e| e["decision"] == "allow")
        .unwrap_or_else(|| panic!("no allowed fetch in {fetches}"));
    assert_eq!(fetch["user"], ANNA, "{fetch}");
    assert_eq!(fetch["principal"], REGION, "{fetch}");
    assert_eq!(fetch["envelope_id"], shared_envelope.as_str(), "{fetch}");
    assert_eq!(fetch["consent_id"], shared_consent.as_str(), "{fetch}");
    assert!(
        entries(&fetches).iter().all(|e| e["action"] == "envelope_fetch" && e["case_id"] == shared.as_str())
    );
    let by_anna = ok(&relay, "auditor", &["audit", "log", "--user", ANNA, "--decision", "allow"]);
    assert!(!entries(&by_anna).is_empty() && entries(&by_anna).iter().all(|e| e["user"] == ANNA));
    let future = ok(&relay, "auditor", &["audit", "log", "--from", "2099-01-01"]);
    assert!(entries(&future).is_empty(), "{future}");
    let csv = plain(&relay, "auditor", &["audit", "log", "--case", &shared, "--csv"]);
    assert!(csv.status.success());
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("index,time,principal,organisation,user,action,decision"), "{csv}");
    assert!(csv.contains(&shared_envelope) && csv.contains("\r\n"), "{csv}");
    let table = plain(&relay, "auditor", &["audit", "log", "--case", &shared]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("Region Östergötland (SE2321000032)") && table.contains("envelope_fetch"),
        "{table}"
    );
    let (code, json, _) = samordna(&relay, "auditor", &["audit", "log", "--csv"]);
    assert_eq!((code, json["error"]["code"].as_str()), (2, Some("usage")), "{json}");
    let (code, json, _) = samordna(&relay, "auditor", &["audit", "log", "--action", "dance"]);
    assert_eq!(code, 2, "{json}");

    // Not an auditor: refused, with a sentence.
    let (code, json, _) = samordna(&relay, "school", &["audit", "log"]);
    assert_eq!((code, json["error"]["code"].as_str()), (1, Some("forbidden")), "{json}");
    assert!(json["error"]["message"].as_str().unwrap().contains("compliance officers"), "{json}");

    // The municipality's auditor sees its own case, and nothing of the region's case with the school.
    let out = run(relay.relay_cmd().args([
        "auditor",
        "add",
        "--hsa-id",
        "SE2120000449-kb01",
        "--principal",
        KOMMUN,
    ]));
    assert!(out.status.success());
    let municipal = ok(&relay, "municipality", &["audit", "log"]);
    let cases = cases_in(&municipal);
    assert!(cases.contains(&shared), "the municipality's auditor sees the shared case: {cases:?}");
    assert!(!cases.contains(&region_only), "but not the region's case with the school: {cases:?}");
    let filtered = ok(&relay, "municipality", &["audit", "log", "--case", &region_only]);
    assert!(entries(&filtered).is_empty(), "{filtered}");
    let (code, json, _) = samordna(&relay, "municipality", &["audit", "extract", "--case", &region_only]);
    assert_eq!(code, 0, "{json}");
    // Only the municipality's own queries of that case (each logged), nothing of the region's.
    assert!(
        entries(&json).iter().all(|e| e["principal"] == KOMMUN && e["action"] == "log_read"),
        "the extract of another's case holds only the auditor's own queries: {json}"
    );
    let regional = ok(&relay, "auditor", &["audit", "log"]);
    let cases = cases_in(&regional);
    assert!(cases.contains(&shared) && cases.contains(&region_only), "{cases:?}");
    // The municipality's auditor's query of the region's case is itself in the log.
    let reads =
        ok(&relay, "auditor", &["audit", "log", "--user", "SE2120000449-kb01", "--action", "log_read"]);
    assert!(!entries(&reads).is_empty(), "{reads}");

    // audit extract: who accessed what on which consent; as text, CSV and PDF.
    let text = plain(&relay, "auditor", &["audit", "extract", "--case", &shared]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    for needle in [
        "Loggutdrag",
        shared.as_str(),
        ANNA,
        shared_consent.as_str(),
        "Linköpings kommun",
        "Region Östergötland",
    ] {
        assert!(text.contains(needle), "{needle:?} not in the extract:\n{text}");
    }
    let csv_file = work.path().join("extract.csv");
    ok(
        &relay,
        "auditor",
        &["audit", "extract", "--case", &shared, "--format", "csv", "--out", csv_file.to_str().unwrap()],
    );
    let csv = std::fs::read_to_string(&csv_file).unwrap();
    let line = csv
        .lines()
        .find(|l| l.contains(ANNA) && l.contains("envelope_fetch"))
        .unwrap_or_else(|| panic!("{csv}"));
    assert!(line.contains(&shared_consent) && line.contains(&shared_envelope), "{line}");
    let pdf = work.path().join("extract.pdf");
    let written = ok(
        &relay,
        "auditor",
        &["audit", "extract", "--case", &shared, "--format", "pdf", "--out", pdf.to_str().unwrap()],
    );
    assert!(written["entries"].as_u64().unwrap() >= 3, "{written}");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    if let Some(pdf_text) = pdftotext(&pdf) {
        let squeezed: String = pdf_text.split_whitespace().collect();
        for needle in [ANNA, "SE2120000449-kb01", shared_consent.as_str(), shared.as_str(), "Hämtade"] {
            assert!(squeezed.contains(needle), "{needle:?} not in the PDF's text:\n{pdf_text}");
        }
    }
    let (code, _, _) = samordna(
        &relay,
        "auditor",
        &["audit", "extract", "--case", &shared, "--format", "pdf", "--out", pdf.to_str().unwrap()],
    );
    assert_eq!(code, 2, "an existing file is not replaced without --force");

    // audit export --format fhir, read by a real FHIR parser.
    let bundle_file = work.path().join("bundle.json");
    let exported = ok(
        &relay,
        "auditor",
        &["audit", "export", "--format", "fhir", "--case", &shared, "--out", bundle_file.to_str().unwrap()],
    );
    let count = exported["count"].as_u64().unwrap();
    assert!(count >= 3, "{exported}");
    let bundle: Value = serde_json::from_slice(&std::fs::read(&bundle_file).unwrap()).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    if let Some(parsed) = fhir_python(FHIR_PARSE, &bundle_file) {
        assert!(
            parsed.status.success(),
            "fhir.resources refused the bundle:\n{}",
            String::from_utf8_lossy(&parsed.stderr)
        );
        let said: Value = serde_json::from_slice(&parsed.stdout).unwrap();
        assert_eq!(said["count"].as_u64(), Some(count), "{said}");
        assert_eq!(said["type"], "collection");
        assert!(said["agents"].as_array().unwrap().iter().any(|a| a == ANNA), "{said}");
        // The parser is strict: a broken bundle is refused (so the check above can fail).
        let mut broken = bundle.clone();
        broken["entry"][0]["resource"]["recorded"] = "yesterday".into();
        let broken_file = work.path().join("broken.json");
        std::fs::write(&broken_file, broken.to_string()).unwrap();
        let refused = fhir_python(FHIR_PARSE, &broken_file).unwrap();
        assert!(!refused.status.success(), "fhir.resources accepted a bundle with recorded = \"yesterday\"");
    }
    let whole = ok(&relay, "auditor", &["audit", "export", "--format", "fhir"]);
    assert_eq!(whole["resourceType"], "Bundle");
    assert!(whole["entry"].as_array().unwrap().len() as u64 > count);

    // audit stats.
    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) =
        ((today - time::Duration::days(1)).to_string(), (today + time::Duration::days(1)).to_string());
    let stats = ok(&relay, "auditor", &["audit", "stats", "--from", &from, "--to", &to]);
    assert!(stats["total"]["cases_opened"].as_u64().unwrap() >= 2, "{stats}");
    assert!(stats["total"]["consents_recorded"].as_u64().unwrap() >= 2, "{stats}");
    let (code, _, _) = samordna(&relay, "auditor", &["audit", "stats", "--from", &to, "--to", &from]);
    assert_eq!(code, 2);

    // An entry edited in the database: audit verify fails, naming its index and what is wrong.
    let idx = fetch["index"].as_u64().unwrap();
    let stored =
        relay.query(&format!("SELECT entry FROM access_log WHERE idx = {idx}"))[0][0].clone().unwrap();
    let mut entry = LogEntry::decode(&hex::decode(stored).unwrap()).unwrap();
    entry.actor_user = Some(samordna_core::HsaId::parse("SE2321000032-xx99").unwrap());
    relay.execute(&format!(
        "UPDATE access_log SET entry = {}, actor_user = 'SE2321000032-xx99' WHERE idx = {idx}",
        relay.blob(&entry.encode())
    ));
    let (code, report, _) = samordna(&relay, "auditor", &["audit", "verify"]);
    assert_eq!(code, 4, "{report}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_bad_index"].as_u64(), Some(idx), "{report}");
    let said = plain(&relay, "auditor", &["audit", "verify"]);
    assert_eq!(said.status.code(), Some(4));
    let said = String::from_utf8(said.stdout).unwrap();
    assert!(
        said.contains("DOES NOT VERIFY") && said.contains(&format!("entry {idx}: its bytes do not hash")),
        "{said}"
    );
}

/// The log's stored checkpoint size for `profile` (what its last `log check` kept).
fn checked_size(relay: &TestRelay, profile: &str) -> u64 {
    let check = ok(relay, profile, &["log", "check"]);
    check["size"].as_u64().unwrap_or_else(|| panic!("no size in {check}"))
}

fn a_rewound_log_is_caught(backend: Backend) {
    let Some(mut relay) = start(backend) else { return };
    let work = tempfile::tempdir().unwrap();
    ok(&relay, "region", &["keys", "init"]);
    ok(&relay, "municipality", &["keys", "init"]);
    case_with_a_fetched_plan(&relay, work.path(), "municipality", &[KOMMUN, REGION], ("region", REGION));
    // A checkpoint at this size, whatever the signer's timing, to rewind to below.
    settle(&relay);
    ok(&relay, "municipality", &["directory"]);
    settle(&relay);
    let seen = checked_size(&relay, "region");
    let signed: Vec<u64> = relay
        .query(&format!("SELECT size FROM log_checkpoints WHERE size > 0 AND size < {seen} ORDER BY size"))
        .into_iter()
        .map(|r| r[0].clone().unwrap().parse().unwrap())
        .collect();
    // Deep enough that the next few commands do not regrow the log past what the region saw.
    let k = signed
        .iter()
        .copied()
        .find(|s| *s >= seen / 2)
        .or(signed.last().copied())
        .unwrap_or_else(|| panic!("no checkpoint smaller than {seen}"));

    // The operator rewinds the log to its checkpoint of k entries, consistently, and restarts.
    relay.stop();
    let leaves: Vec<merkle::Hash> = (0..k)
        .map(|i| {
            let e =
                relay.query(&format!("SELECT entry FROM access_log WHERE idx = {i}"))[0][0].clone().unwrap();
            merkle::leaf_hash(&hex::decode(e).unwrap())
        })
        .collect();
    let mut tree = Tree::new();
    leaves.iter().for_each(|l| tree.push(*l));
    let mut sql = format!(
        "DELETE FROM access_log WHERE idx >= {k}; DELETE FROM log_cosignatures WHERE size > {k}; \
         DELETE FROM log_checkpoints WHERE size > {k}; UPDATE log_head SET size = {k}, frontier = {} WHERE id = 1;",
        relay.blob(&tree.frontier().concat())
    );
    for level in 1..32u32 {
        sql.push_str(&format!(
            "DELETE FROM log_nodes WHERE level = {level} AND (idx + 1) * {} > {k};",
            1u64 << level
        ));
    }
    relay.execute(&sql);
    relay.start_again();

    // log check: loud, exit 4, and the two signed checkpoints kept.
    let out = plain(&relay, "region", &["log", "check"]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("THE RELAY'S ACCESS LOG WAS REWOUND"), "{stderr}");
    let loud = |stderr: &[u8]| {
        let s = String::from_utf8_lossy(stderr);
        // Rewound while shorter; once it regrows past the old size, rewritten (forked).
        s.contains("THE RELAY'S ACCESS LOG WAS REWOUND") || s.contains("THE RELAY'S ACCESS LOG WAS REWRITTEN")
    };
    assert!(
        stderr.contains(&format!("{k} entries")) && stderr.contains(&format!("{seen} entries")),
        "{stderr}"
    );
    let evidence_root = relay.profile("region").join("state/log/evidence");
    let evidence: Vec<PathBuf> =
        std::fs::read_dir(&evidence_root).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    assert!(evidence[0].to_string_lossy().contains(&format!("-rewound-{seen}-{k}-")), "{evidence:?}");
    let previous = std::fs::read_to_string(evidence[0].join("previous.checkpoint")).unwrap();
    let current = std::fs::read_to_string(evidence[0].join("current.checkpoint")).unwrap();
    assert_eq!(previous.lines().nth(1), Some(seen.to_string().as_str()));
    assert_eq!(current.lines().nth(1), Some(k.to_string().as_str()));
    let (code, json, _) = samordna(&relay, "region", &["log", "check"]);
    assert_eq!((code, json["error"]["code"].as_str()), (4, Some("log_rewound")), "{json}");

    // Any other command that talks to the relay says so too (its own result still printed).
    let (code, json, stderr) = samordna(&relay, "region", &["inbox"]);
    assert_eq!(code, 4, "{json}");
    assert!(
        ["log_rewound", "log_forked"].contains(&json["log_check_error"]["code"].as_str().unwrap_or("")),
        "{json}"
    );
    assert!(loud(stderr.as_bytes()), "{stderr}");
    let out = plain(&relay, "region", &["directory"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Linköpings kommun"));
    assert!(loud(&out.stderr), "{}", String::from_utf8_lossy(&out.stderr));
    // A profile that never saw the longer log has nothing to compare with: its commands work.
    ok(&relay, "school", &["directory"]);
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

on_both_backends!(the_compliance_officers_tools, a_rewound_log_is_caught);
