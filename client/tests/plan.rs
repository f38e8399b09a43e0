//! SIP plans on the client, as a user meets them: `samordna plan new | validate | render`, the spec's
//! example rendered to HTML (headings, the efforts table), to PDF (read back with `pdftotext`) and
//! to text, and the JSON Schema checked by an independent validator (Python's `jsonschema`).
//!
//! Tools from outside (pdftotext from poppler-utils, a TrueType font from fonts-dejavu-core,
//! python3 with jsonschema) are used when present. When one is missing the test says it was
//! skipped, loudly; with `SAMORDNA_REQUIRE_TEST_TOOLS=1` a missing tool fails the test instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use samordna_client::plan::{self, Format, PdfFonts, document::heading};
use samordna_core::plan::{Plan, check};
use serde_json::{Value, json};
use time::macros::date;

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/spec");
const TODAY: time::Date = date!(2026 - 11 - 23);

fn spec(name: &str) -> PathBuf {
    Path::new(SPEC).join(name)
}

fn example_path() -> PathBuf {
    spec("sip-plan-v1.example.json")
}

fn example() -> Value {
    serde_json::from_slice(&std::fs::read(example_path()).unwrap()).unwrap()
}

fn example_plan() -> Plan {
    check(&std::fs::read(example_path()).unwrap(), TODAY).unwrap()
}

/// A tool the test needs is missing: skip, saying so, unless tools are required.
fn missing_tool(what: &str) {
    let required = std::env::var_os("SAMORDNA_REQUIRE_TEST_TOOLS").is_some_and(|v| v == "1");
    assert!(!required, "{what} is missing and SAMORDNA_REQUIRE_TEST_TOOLS=1");
    eprintln!("SKIPPED: {what} is missing; this check did not run");
}

fn samordna(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samordna")).env_remove("SAMORDNA_PROFILE").args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The order in which the example's sections must appear.
const HEADINGS: [&str; 12] = [
    heading::PERSON,
    heading::PARTICIPANTS,
    heading::BACKGROUND,
    heading::NEEDS,
    heading::GOALS,
    heading::EFFORTS,
    heading::OTHERS,
    heading::LEAD,
    heading::COORDINATOR,
    heading::FOLLOW_UP,
    heading::CONSENT,
    heading::HISTORY,
];

/// The example's efforts as the table must show them: what, responsible principal, from, contact.
const EFFORT_ROWS: [[&str; 4]; 5] = [
    [
        "Hemtjänst morgon och kväll: hygien, påklädning, måltider; dusch två gånger i veckan",
        "Linköpings kommun",
        "2026-11-12",
        "Sofia Ström",
    ],
    ["Trygghetslarm med nattillsyn vid behov", "Linköpings kommun", "2026-11-20", "Karin Berg"],
    [
        "Hemsjukvård: läkemedel i dosett, kontroll av vikt och ödem varje vecka",
        "Linköpings kommun",
        "2026-11-12",
        "Åsa Öberg",
    ],
    ["Läkemedelsgenomgång och uppföljning av hjärtsvikten", "Region Östergötland", "2026-12-01", "Anna Lind"],
    [
        "Fysioterapi i hemmet: gång- och balansträning två gånger i veckan",
        "Linköpings kommun",
        "2026-11-16",
        "Jonas Åkesson",
    ],
];

/// The text of an HTML fragment without its tags.
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn the_example_renders_to_html_with_every_heading_and_the_efforts_table() {
    let html = String::from_utf8(plan::render(&example_plan(), Format::Html, None).unwrap()).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"sv\">"), "{}", &html[..80]);
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(html.contains("@media print") && html.contains("@page"), "a print style sheet");
    for external in ["<script", "<link", "src=", "http://", "https://"] {
        assert!(!html.contains(external), "not self-contained: {external}");
    }
    assert!(html.contains("<h1>Samordnad individuell plan (SIP)</h1>"));

    // Every section, in order.
    let mut at = 0;
    for h in HEADINGS {
        let tag = format!("<h2>{h}</h2>");
        let found = html[at..].find(&tag).unwrap_or_else(|| panic!("{tag} missing or out of order"));
        at += found + tag.len();
    }
    assert!(!html.contains(heading::GUARDIANS), "an adult's plan has no guardians section");

    // The efforts table: its header, then one row per effort with the four columns.
    let start = html.find("<h2>Insatser</h2>").unwrap();
    let section = &html[start..start + html[start..].find("</section>").unwrap()];
    assert!(section.contains(
        "<thead><tr><th scope=\"col\">Insats</th><th scope=\"col\">Ansvarig huvudman</th>\
         <th scope=\"col\">Från</th><th scope=\"col\">Kontaktperson</th></tr></thead>"
    ));
    let rows: Vec<&str> = section.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), EFFORT_ROWS.len());
    for (row, expected) in rows.iter().zip(EFFORT_ROWS) {
        let cells: Vec<String> = row.split("<td>").skip(1).map(strip_tags).collect();
        assert_eq!(cells.len(), 4, "{row}");
        for (cell, want) in cells.iter().zip(expected) {
            assert!(cell.starts_with(want), "{cell:?} should start with {want:?}");
        }
    }
    assert!(section.contains("till 2027-03-31"), "an effort's end date is shown");
    assert!(section.contains("<span class=\"extra\">Mål: Tolvan klarar vardagen hemma</span>"));

    // The person, the lead principal, the consent.
    assert!(html.contains("<dt>Personnummer</dt><dd>19121212-1212</dd>"));
    assert!(
        html.contains("Linköpings kommun (organisationsnummer 212000-0449) har det övergripande ansvaret")
    );
    assert!(html.contains("samtycke K-7F45WHC15KAWSY758K8084K3B5"));
}

#[test]
fn text_from_the_plan_cannot_become_markup() {
    let mut doc = example();
    doc["person"]["name"] = json!("<script>alert('x')</script> & Co");
    doc["efforts"][0]["what"] = json!("Hemtjänst <b>\"varje\"</b> dag");
    let plan = check(&serde_json::to_vec(&doc).unwrap(), TODAY).unwrap();
    let html = String::from_utf8(plan::render(&plan, Format::Html, None).unwrap()).unwrap();
    assert!(!html.contains("<script>") && !html.contains("<b>"), "unescaped user text");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co"));
    assert!(html.contains("Hemtjänst &lt;b&gt;&quot;varje&quot;&lt;/b&gt; dag"));
}

#[test]
fn a_childs_plan_shows_the_guardians_and_the_childs_own_view() {
    let plan = check(&std::fs::read(spec("sip-plan-v1.child-example.json")).unwrap(), TODAY).unwrap();
    let html = String::from_utf8(plan::render(&plan, Format::Html, None).unwrap()).unwrap();
    let guardians = html.find("<h2>Vårdnadshavare</h2>").expect("guardians section");
    assert!(guardians < html.find("<h2>Deltagare</h2>").unwrap());
    assert!(html.contains("<h3>Barnets egen uppfattning</h3>"));
    assert!(html.contains("<td>Stångåskolan AB<span class=\"extra\">Elevhälsan, Stångåskolan</span></td>"));
    assert!(html.contains("med samtycke från vårdnadshavarna"));
}

#[test]
fn the_example_renders_as_text() {
    let text = String::from_utf8(plan::render(&example_plan(), Format::Text, None).unwrap()).unwrap();
    assert!(text.starts_with("SAMORDNAD INDIVIDUELL PLAN (SIP)\n================================\n"));
    for h in HEADINGS {
        assert!(text.contains(&format!("\n{h}\n{}\n", "-".repeat(h.chars().count()))), "{h}");
    }
    assert!(text.contains(" 4. Insats: Läkemedelsgenomgång och uppföljning av hjärtsvikten;"));
    assert!(text.contains("    Ansvarig huvudman: Region Östergötland; Vårdcentralen Ekholmen\n"));
    assert!(text.contains("    Från: 2026-12-01 till 2027-03-31\n"));
    assert!(text.lines().all(|l| l.chars().count() <= 78), "wrapped at 78");
}

/// The fonts for the PDF tests, or `None` (skipped) when the machine has none.
fn fonts() -> Option<PdfFonts> {
    match PdfFonts::find() {
        Ok(f) => Some(f),
        Err(e) => {
            missing_tool(&format!("a font for PDF ({e})"));
            None
        }
    }
}

/// `pdftotext` of a PDF, or `None` (skipped) when poppler-utils is not installed.
fn pdftotext(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.pdf");
    std::fs::write(&file, pdf).unwrap();
    match Command::new("pdftotext").args(["-enc", "UTF-8"]).arg(&file).arg("-").output() {
        Ok(o) => {
            assert!(o.status.success(), "pdftotext: {}", stderr(&o));
            Some(stdout(&o))
        }
        Err(_) => {
            missing_tool("pdftotext (Debian: poppler-utils)");
            None
        }
    }
}

#[test]
fn the_example_renders_to_a_pdf_whose_text_reads_back() {
    let Some(fonts) = fonts() else { return };
    let plan = example_plan();
    let pdf = plan::render(&plan, Format::Pdf, Some(&fonts)).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    assert_eq!(
        pdf,
        plan::render(&plan, Format::Pdf, Some(&fonts)).unwrap(),
        "the same plan gives the same bytes"
    );
    let Some(text) = pdftotext(&pdf) else { return };
    // Lines of table cells may be broken anywhere: compare with all white space as one space.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.starts_with("Samordnad individuell plan (SIP)"), "{}", &flat[..60]);
    for h in HEADINGS {
        assert!(flat.contains(h), "heading {h} not in the PDF's text:\n{text}");
    }
    for column in ["Insats", "Ansvarig huvudman", "Från", "Kontaktperson"] {
        assert!(flat.contains(column), "column {column}");
    }
    for [what, principal, from, contact] in EFFORT_ROWS {
        // The first words of each effort (a cell wraps, and pdftotext may read columns side by side).
        let start: String = what.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        for want in [start.as_str(), principal, from, contact] {
            assert!(flat.contains(want), "{want:?} not in the PDF's text:\n{text}");
        }
    }
    // Swedish letters come out as letters, not as boxes or question marks.
    for word in [
        "Åsa Öberg",
        "Jonas Åkesson",
        "Sofia Ström",
        "Läkemedelsgenomgång",
        "Östergötland",
        "Övergripande ansvar",
    ] {
        assert!(flat.contains(word), "{word:?} not in the PDF's text");
    }
    assert!(flat.contains("Tolvan Tolvansson, 19121212-1212"));
    assert!(flat.contains("Sida 1 av "), "page numbers");
}

#[test]
fn without_a_font_the_pdf_error_names_the_package() {
    let e = PdfFonts::find_in(None, None, &[("/nonexistent/font.ttf", "/nonexistent/bold.ttf")]).unwrap_err();
    assert_eq!((e.exit_code(), e.code().as_str()), (2, "pdf_font"));
    assert!(e.to_string().contains("apt-get install fonts-dejavu-core"), "{e}");
    assert!(e.to_string().contains("SAMORDNA_PDF_FONT"), "{e}");
    // A font named explicitly that does not work is an error, not a silent fallback.
    let dir = tempfile::tempdir().unwrap();
    let not_a_font = dir.path().join("font.ttf");
    std::fs::write(&not_a_font, b"not a font").unwrap();
    let e = PdfFonts::find_in(Some(not_a_font.clone().into()), None, plan::pdf::FONT_CANDIDATES).unwrap_err();
    assert!(e.to_string().contains("SAMORDNA_PDF_FONT names a font that cannot be used"), "{e}");
}

#[test]
fn the_commands_new_validate_and_render() {
    let dir = tempfile::tempdir().unwrap();
    let example_file = example_path();
    let example_file = example_file.to_str().unwrap();

    // A valid plan: exit 0, in both languages; --json says so too.
    let o = samordna(&["plan", "validate", example_file]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("is a valid SIP plan, revision 2")
            && stdout(&o).contains("är en giltig SIP-plan")
    );
    let o = samordna(&["--json", "plan", "validate", example_file, "--date", "2026-11-23"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["valid"].as_bool(), v["date"].as_str(), v["revision"].as_u64()),
        (Some(true), Some("2026-11-23"), Some(2))
    );

    // Broken: exit 2, each problem by its field, in English and Swedish, the number never shown.
    let mut broken = example();
    broken["efforts"][2]["responsible_principal"] = json!("SE5569875437");
    broken["follow_up"]["date"] = json!("2026-11-01");
    let file = dir.path().join("broken.json");
    std::fs::write(&file, serde_json::to_vec(&broken).unwrap()).unwrap();
    let o = samordna(&["plan", "validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(out.contains("is not a valid SIP plan: 2 problems"), "{out}");
    assert!(out.contains(
        "\n  efforts[2].responsible_principal: the responsible principal SE5569875437 is not among"
    ));
    assert!(out.contains("\n    (sv) ansvarig huvudman SE5569875437 finns inte bland deltagarnas huvudmän"));
    assert!(out.contains("\n  follow_up.date: must be after the meeting"));
    assert!(out.contains("\n    (sv) ska ligga efter mötet"));

    let mut broken = example();
    broken["person"]["personnummer"] = json!("19121212-1213");
    broken["efforts"][1]["colour"] = json!("blå");
    std::fs::write(&file, serde_json::to_vec(&broken).unwrap()).unwrap();
    let o = samordna(&["--json", "plan", "validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let errors = v["errors"].as_array().unwrap();
    let fields: Vec<&str> = errors.iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["person.personnummer", "efforts[1].colour"]);
    assert_eq!(errors[0]["code"], "invalid");
    assert!(errors[0]["sv"].as_str().unwrap().contains("kontrollsiffran"));
    assert!(!stdout(&o).contains("1212-1213"), "the personnummer was repeated");

    // Not JSON at all.
    std::fs::write(&file, "{ \"type\": ").unwrap();
    let o = samordna(&["plan", "validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("the file is not valid JSON (line 1"), "{}", stdout(&o));

    // A plan that is not valid is not rendered.
    let mut broken = example();
    broken["follow_up"]["date"] = json!("2026-11-01");
    std::fs::write(&file, serde_json::to_vec(&broken).unwrap()).unwrap();
    let out = dir.path().join("broken.html");
    let o = samordna(&[
        "plan",
        "render",
        file.to_str().unwrap(),
        "--format",
        "html",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("follow_up.date: must be after the meeting"), "{}", stderr(&o));
    assert!(!out.exists());

    // Render to files: written for the owner only, not overwritten without --force.
    let html = dir.path().join("plan.html");
    let o = samordna(&["plan", "render", example_file, "--format", "html", "--out", html.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<h2>Insatser</h2>"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&html).unwrap().permissions().mode() & 0o777, 0o600);
    let o = samordna(&["plan", "render", example_file, "--format", "html", "--out", html.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists; choose another file, or pass --force"));
    let o = samordna(&["plan", "render", example_file, "--format", "text"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("SAMORDNAD INDIVIDUELL PLAN (SIP)"));
    if PdfFonts::find().is_ok() {
        let pdf = dir.path().join("plan.pdf");
        let o = samordna(&[
            "--json",
            "plan",
            "render",
            example_file,
            "--format",
            "pdf",
            "--out",
            pdf.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["format"], "pdf");
        assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    }

    // A new plan: to standard output, or to a file; it is a skeleton, not yet a valid plan.
    let o = samordna(&["plan", "new", "--case", "S-3QQFC4FRDNN806FQVPN62MBSZF"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let skeleton: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(skeleton["type"], "samordna-sip-plan");
    assert_eq!(skeleton["case_id"], "S-3QQFC4FRDNN806FQVPN62MBSZF");
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(skeleton["meeting"]["date"], today.as_str());
    let new = dir.path().join("ny-plan.json");
    let o = samordna(&["plan", "new", "--out", new.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("samordna plan validate"), "{}", stdout(&o));
    let o = samordna(&["plan", "validate", new.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    for field in ["consent_id: is empty", "person.personnummer: is empty", "follow_up.date: is empty"] {
        assert!(stdout(&o).contains(field), "{field} in {}", stdout(&o));
    }
}

#[test]
fn a_new_plan_from_a_profile_names_its_principal_and_person() {
    // A profile of the development federation; the relay is never asked.
    use samordna_core::devpki::{DevCa, PersonSpec, Usage};
    use time::{Duration, OffsetDateTime};
    let now = OffsetDateTime::now_utc();
    let ca =
        DevCa::new("Samordna testfederation", now - Duration::days(1), now + Duration::days(30)).unwrap();
    let karin = ca
        .issue_person(&PersonSpec {
            principal: samordna_core::PrincipalId::parse("SE2120000449").unwrap(),
            organisation: "Linköpings kommun".into(),
            name: "Karin Berg".into(),
            hsa_id: samordna_core::HsaId::parse("SE2120000449-kb01").unwrap(),
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(30),
            usage: Usage::ClientAndSigning,
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path();
    std::fs::write(profile.join("cert.pem"), &karin.cert_pem).unwrap();
    std::fs::write(profile.join("key.pem"), &karin.key_pem).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(profile.join("key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(profile.join("root-ca.pem"), &ca.root().cert_pem).unwrap();
    std::fs::write(
        profile.join("profile.toml"),
        "relay_url = \"https://127.0.0.1:1\"\ncertificate = \"cert.pem\"\nprivate_key = \"key.pem\"\nroot_ca = \"root-ca.pem\"\n",
    )
    .unwrap();
    let o = samordna(&["--profile", profile.to_str().unwrap(), "plan", "new"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["lead_principal"], "SE2120000449");
    assert_eq!(s["principals"][0], json!({"id": "SE2120000449", "name": "Linköpings kommun"}));
    assert_eq!(s["coordinator"]["name"], "Karin Berg");
    assert_eq!(s["participants"][1]["hsa_id"], "SE2120000449-kb01");
    assert_eq!(s["history"][0]["by"], "Karin Berg");
}

/// Runs Python's `jsonschema` (Draft 2020-12) on each document; `None` if it is not installed.
/// Returns, per document, whether the schema accepts it.
fn python_schema_check(docs: &[(String, Value)]) -> Option<Vec<bool>> {
    const SCRIPT: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1], encoding="utf-8"))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
for path in sys.argv[2:]:
    errors = list(validator.iter_errors(json.load(open(path, encoding="utf-8"))))
    print("valid" if not errors else "invalid " + "; ".join("/" + "/".join(str(p) for p in e.absolute_path) for e in errors))
"#;
    let python = ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        Command::new(p).args(["-c", "import jsonschema"]).output().is_ok_and(|o| o.status.success())
    });
    let Some(python) = python else {
        missing_tool("Python's jsonschema (Debian: python3-jsonschema)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(python);
    cmd.args(["-c", SCRIPT]).arg(spec("sip-plan-v1.schema.json"));
    for (i, (_, doc)) in docs.iter().enumerate() {
        let path = dir.path().join(format!("{i}.json"));
        std::fs::write(&path, serde_json::to_vec(doc).unwrap()).unwrap();
        cmd.arg(path);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "jsonschema failed: {}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), docs.len(), "{lines:?}");
    for ((name, _), line) in docs.iter().zip(&lines) {
        eprintln!("jsonschema: {name}: {line}");
    }
    Some(lines.iter().map(|l| l == "valid").collect())
}

/// A way to break the example, by name.
type Breakage = (&'static str, fn(&mut Value));

#[test]
fn the_schema_and_the_validator_agree() {
    let read = |name: &str| -> Value { serde_json::from_slice(&std::fs::read(spec(name)).unwrap()).unwrap() };
    let mut docs: Vec<(String, Value, bool)> = vec![
        ("the example".into(), read("sip-plan-v1.example.json"), true),
        ("the child's example".into(), read("sip-plan-v1.child-example.json"), true),
    ];
    // Optional members left empty, as `plan new` writes them.
    let mut v = example();
    v["case_id"] = json!("");
    v["wishes"] = json!("");
    v["participants"][0]["hsa_id"] = json!("");
    v["efforts"][0]["until"] = json!("");
    v["person"]["email"] = json!("");
    docs.push(("optional members empty".into(), v, true));
    let broken: [Breakage; 12] = [
        ("a required member missing", |d| {
            d["person"].as_object_mut().unwrap().remove("name");
        }),
        ("an unknown member", |d| d["efforts"][1]["colour"] = json!("blå")),
        ("another type", |d| d["type"] = json!("sip-plan")),
        ("another version", |d| d["version"] = json!(2)),
        ("a principal id of the wrong form", |d| d["lead_principal"] = json!("SE232100-0032")),
        ("a personnummer in the short form", |d| d["person"]["personnummer"] = json!("121212-1212")),
        ("a month 13", |d| d["follow_up"]["date"] = json!("2027-13-01")),
        ("an effort without a contact", |d| {
            d["efforts"][0].as_object_mut().unwrap().remove("contact");
        }),
        ("no needs", |d| d["needs"] = json!([])),
        ("an empty required text", |d| d["background"] = json!("   ")),
        ("null for an optional member", |d| d["wishes"] = json!(null)),
        ("a revision of 0", |d| d["revision"] = json!(0)),
    ];
    for (name, f) in broken {
        let mut d = example();
        f(&mut d);
        docs.push((name.into(), d, false));
    }
    // Each document: our reader and rules agree with the expectation…
    for (name, doc, valid) in &docs {
        let ours = check(&serde_json::to_vec(doc).unwrap(), TODAY);
        assert_eq!(ours.is_ok(), *valid, "{name}: samordna says {ours:?}");
    }
    // …and so does the independent validator.
    let named: Vec<(String, Value)> = docs.iter().map(|(n, d, _)| (n.clone(), d.clone())).collect();
    let Some(schema_says) = python_schema_check(&named) else { return };
    for ((name, _, valid), schema_valid) in docs.iter().zip(schema_says) {
        assert_eq!(schema_valid, *valid, "{name}: the JSON Schema and samordna disagree");
    }
}
