//! `samordna web` in a real browser: Debian's headless Chromium, driven through chromedriver, with
//! three web apps against one real relay (SQLite) of a development federation: Karin Berg at
//! Linköpings kommun, Anna Lind at Region Östergötland, and Maria Gran, the region's compliance
//! officer.
//!
//! Karin opens a case, records the person's consent (after the form has explained a refusal),
//! fills in a SIP plan, previews it and sends it; Anna finds it in her inbox, opens it and sees the
//! verified signer; Karin withdraws the consent, and Anna, opening the document again, sees it
//! withheld; Maria verifies the log and downloads the case's log extract as PDF. Every page visited
//! is checked with axe-core (WCAG 2.0/2.1 A and AA) and must have no serious or critical
//! violation; with `SAMORDNA_WEB_SCREENSHOTS=DIR` (relative to the workspace) each page is saved
//! as `DIR/<page>.png` (`docs/web/` holds the ones the README shows).
//!
//! Skipped when Chromium, chromedriver or axe-core (`npm ci --prefix tests/web`) is missing,
//! unless `SAMORDNA_REQUIRE_TEST_TOOLS=1` (as in CI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use samordna_tests::{
    browser::{self, Browser},
    cli::ok,
    relay::{Backend, TestRelay},
    web::TestWeb,
};

const KOMMUN: &str = "SE2120000449";
const REGION: &str = "SE2321000032";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Where screenshots go, if anywhere: `SAMORDNA_WEB_SCREENSHOTS`, relative to the workspace.
fn screenshot_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SAMORDNA_WEB_SCREENSHOTS").filter(|d| !d.is_empty())?;
    let dir = PathBuf::from(dir);
    Some(if dir.is_absolute() { dir } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir) })
}

/// The pages checked so far, and what axe-core found on them.
#[derive(Default)]
struct Pages {
    shots: Option<PathBuf>,
    checked: Vec<String>,
    violations: Vec<String>,
    /// Other failures that do not stop the scenario.
    failures: Vec<String>,
}

impl Pages {
    /// Checks the page the browser shows with axe-core, and saves its screenshot as `name`.
    async fn visit(&mut self, b: &Browser, name: &str) -> Result<()> {
        let path = b.path().await?;
        if let Err(e) = b.assert_accessible(&format!("{name} ({path})")).await {
            eprintln!("{e:#}");
            self.violations.push(format!("{e:#}"));
        }
        if let Some(dir) = &self.shots {
            b.screenshot(&dir.join(format!("{name}.png"))).await?;
        }
        self.checked.push(format!("{name} ({path})"));
        Ok(())
    }
}

/// The word of `text` that starts with `prefix` (an id such as `S-…`, `K-…` or `E-…`).
fn id_in(text: &str, prefix: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with(prefix) && w.len() == prefix.len() + 26)
        .map(str::to_owned)
}

/// The first number after `label` in `text`.
fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    let digits: String =
        rest.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Logs `b` in to `web` with the link the command printed; the app lands on its inbox.
async fn log_in(b: &Browser, web: &TestWeb) -> Result<()> {
    b.goto(&web.login_url).await?;
    let path = b.path().await?;
    ensure!(path == "/inkorg", "the login link led to {path}, not /inkorg");
    Ok(())
}

/// The three web apps and their browsers.
struct Apps<'a> {
    relay: &'a TestRelay,
    kommun: &'a TestWeb,
    region: &'a TestWeb,
    auditor: &'a TestWeb,
}

#[test]
fn two_principals_and_an_auditor_in_a_browser() {
    if !browser::available() {
        return;
    }
    let relay = TestRelay::start(Backend::Sqlite).unwrap();
    ok(&relay, "region", &["keys", "init"]);
    ok(&relay, "municipality", &["keys", "init"]);
    let kommun = TestWeb::start(&relay.profile("municipality"));
    let region = TestWeb::start(&relay.profile("region"));
    let auditor = TestWeb::start(&relay.profile("auditor"));

    // Without the cookie the link sets: 401 with a page that says what to do; a wrong token too.
    let (status, response) = kommun.get_without_cookie("/inkorg");
    assert_eq!(status, 401, "{response}");
    assert!(response.contains("Öppna länken"), "{response}");
    let (status, _) = kommun.get_without_cookie(&format!("/inkorg?token={}", "0".repeat(64)));
    assert_eq!(status, 401);
    let (status, _) = kommun.get_without_cookie("/granskning/statistik");
    assert_eq!(status, 401);

    let apps = Apps { relay: &relay, kommun: &kommun, region: &region, auditor: &auditor };
    let outcome = runtime().block_on(scenario(&apps));
    if let Err(e) = outcome {
        panic!(
            "{e:#}\n\n--- kommun's samordna web:\n{}\n--- region's:\n{}\n--- auditor's:\n{}\n--- relay log (end):\n{}",
            kommun.log(),
            region.log(),
            auditor.log(),
            tail(&relay.log(), 60)
        );
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

async fn scenario(apps: &Apps<'_>) -> Result<()> {
    let mut pages = Pages { shots: screenshot_dir(), ..Pages::default() };
    let Some(karin) = Browser::start().await else { return Ok(()) };
    let Some(anna) = Browser::start().await else { return Ok(()) };
    let Some(maria) = Browser::start().await else { return Ok(()) };
    let result = steps(apps, &mut pages, &karin, &anna, &maria).await;
    eprintln!("pages checked with axe-core ({}):\n  {}", pages.checked.len(), pages.checked.join("\n  "));
    for b in [karin, anna, maria] {
        b.close().await;
    }
    result?;
    ensure!(pages.failures.is_empty(), "{}", pages.failures.join("\n"));
    ensure!(
        pages.violations.is_empty(),
        "{} page(s) with serious or critical accessibility violations:\n{}",
        pages.violations.len(),
        pages.violations.join("\n")
    );
    Ok(())
}

async fn steps(
    apps: &Apps<'_>,
    pages: &mut Pages,
    karin: &Browser,
    anna: &Browser,
    maria: &Browser,
) -> Result<()> {
    // ---- Karin, Linköpings kommun: a new case.
    log_in(karin, apps.kommun).await?;
    let header = karin.text().await?;
    ensure!(header.contains("Linköpings kommun") && header.contains("Karin Berg"), "who is this? {header}");
    karin.goto(&apps.kommun.url("/arenden")).await?;
    pages.visit(karin, "arenden").await?;
    karin.click_link("Öppna ett nytt ärende").await?;
    ensure!(karin.path().await? == "/arende/ny", "not the new case form: {}", karin.path().await?);
    pages.visit(karin, "arende-ny").await?;
    karin.click_button("Öppna ärendet").await?;
    let path = karin.path().await?;
    let case = id_in(&path, "S-").with_context(|| format!("no case id after opening a case: {path}"))?;
    ensure!(path.starts_with(&format!("/arende/{case}")), "{path}");

    // ---- The consent: the form explains a refusal first, then records it.
    karin.click_link("Registrera samtycke").await?;
    ensure!(karin.path().await? == format!("/arende/{case}/samtycke"), "{}", karin.path().await?);
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(90)).date().to_string();
    karin.check("subject_kind", "vuxen", true).await?;
    karin.check("grantor", "individual", true).await?;
    karin.check("party", KOMMUN, true).await?;
    karin.check("party", REGION, false).await?;
    karin.check("kind", "plan", true).await?;
    karin.check("kind", "meeting", true).await?;
    karin.fill("valid_until", &until).await?;
    karin.check("given_as", "written", true).await?;
    karin.click_button("kontrollera").await?;
    let refusal = karin
        .by_id("party-fel")
        .await
        .context("one party only: the form shows no refusal at #party-fel")?
        .text()
        .await?;
    ensure!(!refusal.trim().is_empty(), "#party-fel is empty");
    eprintln!("the consent form refuses one party: {refusal}");
    pages.visit(karin, "samtycke").await?;
    karin.check("party", REGION, true).await?;
    karin.click_button("registrera").await?;
    let path = karin.path().await?;
    ensure!(path.starts_with(&format!("/arende/{case}")) && path.contains("klart=samtycke"), "{path}");
    let text = karin.text().await?;
    let consent = id_in(&text, "K-").with_context(|| format!("no consent id on the case page:\n{text}"))?;

    // ---- The plan: filled in, previewed, sent.
    karin.click_link("Skriv SIP-plan").await?;
    ensure!(karin.path().await? == format!("/arende/{case}/plan"), "{}", karin.path().await?);
    let follow_up = (time::OffsetDateTime::now_utc() + time::Duration::days(60)).date().to_string();
    for (name, value) in [
        ("consent_id", consent.as_str()),
        ("meeting.place", "Stadshuset, Linköping"),
        ("person.name", "Tolvan Tolvansson"),
        ("person.personnummer", "19121212-1212"),
        ("participants[0].name", "Tolvan Tolvansson"),
        ("person.phone", "013-12 12 12"),
        ("participants[1].role", "Socialsekreterare"),
        ("participants[2].name", "Anna Lind"),
        ("participants[2].role", "Sjuksköterska"),
        ("participants[2].principal", REGION),
        ("background", "Tolvan behöver stöd både hemma och från vården."),
        ("needs[0]", "Hjälp i vardagen"),
        ("goals[0]", "Bo kvar hemma"),
        ("efforts[0].what", "Hemtjänst två gånger i veckan"),
        ("efforts[0].responsible_principal", KOMMUN),
        ("efforts[0].contact.name", "Karin Berg"),
        ("follow_up.date", follow_up.as_str()),
        ("follow_up.how", "Nytt SIP-möte"),
        ("follow_up.evaluation", "Vi går igenom målen tillsammans."),
    ] {
        karin.fill(name, value).await?;
    }
    karin.click_button("forhandsgranska").await?;
    if karin.by_id("forhandsgranskning").await.is_none() {
        bail!("the plan was not accepted for preview:\n{}", karin.text().await?);
    }
    pages.visit(karin, "plan").await?;
    karin.check("till", REGION, true).await?;
    karin.click_button("skicka").await?;
    let text = karin.text().await?;
    ensure!(text.contains("Planen är skickad"), "the plan was not sent:\n{text}");
    let envelope = id_in(&text, "E-").with_context(|| format!("no envelope id:\n{text}"))?;
    pages.visit(karin, "plan-skickad").await?;
    // The send answered with a redirect: loading the result again shows it and sends nothing.
    let result = karin.path().await?;
    ensure!(result == format!("/arende/{case}/plan/skickat/{envelope}"), "not the result page: {result}");
    karin.goto(&apps.kommun.url(&result)).await?;
    ensure!(karin.text().await?.contains(&envelope), "the result page does not show {envelope} again");
    let sql = format!("SELECT COUNT(*) FROM envelopes WHERE case_id = '{case}'");
    let stored = std::thread::scope(|s| s.spawn(|| apps.relay.query(&sql)[0][0].clone()).join())
        .map_err(|_| anyhow::anyhow!("the database query panicked"))?;
    ensure!(stored.as_deref() == Some("1"), "the case holds {stored:?} envelopes, not the one sent");
    karin.goto(&apps.kommun.url(&format!("/arende/{case}"))).await?;
    pages.visit(karin, "arende").await?;

    // ---- A meeting invitation page.
    karin.goto(&apps.kommun.url(&format!("/arende/{case}/kallelse"))).await?;
    let text = karin.text().await?;
    if text.contains("Sidan finns inte") {
        // Recorded, and the rest of the scenario still runs: the test fails at the end.
        pages.failures.push(format!("no invitation page at /arende/{case}/kallelse:\n{text}"));
    } else {
        pages.visit(karin, "kallelse").await?;
        if let Err(e) = invite_update_cancel(karin, pages).await {
            pages.failures.push(format!("the meeting invitation: {e:#}"));
        }
    }

    // ---- Karin's inbox: what her organisation sent, with its delivery.
    karin.goto(&apps.kommun.url("/inkorg")).await?;
    let text = karin.text().await?;
    ensure!(text.contains(&envelope), "the sent plan {envelope} is not in the kommun's inbox:\n{text}");
    pages.visit(karin, "inkorg-skickat").await?;

    // ---- Anna, Region Östergötland: before the link, a page that says to open it.
    anna.goto(&apps.region.url("/inkorg")).await?;
    let text = anna.text().await?;
    ensure!(text.contains("Öppna länken"), "no login page without the cookie:\n{text}");
    pages.visit(anna, "inloggning-kravs").await?;
    // The inbox, the document, the verified signer.
    log_in(anna, apps.region).await?;
    let text = anna.text().await?;
    ensure!(text.contains(&envelope), "the plan {envelope} is not in the region's inbox:\n{text}");
    ensure!(text.contains("Linköpings kommun"), "the inbox does not name the sender:\n{text}");
    pages.visit(anna, "inkorg").await?;
    let link = anna
        .client
        .find(fantoccini::Locator::Css(&format!("a[href=\"/dokument/{envelope}\"]")))
        .await
        .context("no link to the document in the inbox")?;
    anna.click_and_wait(&link).await?;
    let signer = anna.wait_for_id("signatur").await?.text().await?;
    for needle in ["Signaturen är verifierad", "Linköpings kommun", "Karin Berg", "SE2120000449-kb01"] {
        ensure!(signer.contains(needle), "{needle:?} not in the signature panel:\n{signer}");
    }
    let page = anna.text().await?;
    ensure!(page.contains("Hemtjänst två gånger i veckan"), "the plan's content is not shown:\n{page}");
    pages.visit(anna, "dokument").await?;

    // ---- Karin withdraws the consent.
    karin.goto(&apps.kommun.url(&format!("/arende/{case}"))).await?;
    karin.fill("reason", "individual").await?;
    karin.click_button(&format!("Återkalla samtycke {consent}")).await?;
    let path = karin.path().await?;
    ensure!(
        path.contains("klart=aterkallat"),
        "the withdrawal did not confirm: {path}\n{}",
        karin.text().await?
    );

    // ---- Anna: the same document is now withheld.
    anna.goto(&apps.region.url(&format!("/dokument/{envelope}"))).await?;
    let withheld = anna
        .wait_for_id("undanhallen")
        .await
        .with_context(|| "the document is not shown as withheld after the withdrawal")?
        .text()
        .await?;
    ensure!(anna.by_id("signatur").await.is_none(), "a withheld document still shows its signature panel");
    eprintln!("withheld: {withheld}");
    pages.visit(anna, "dokument-undanhallen").await?;
    anna.goto(&apps.region.url(&format!("/arende/{case}"))).await?;
    let text = anna.text().await?;
    ensure!(text.contains(&consent) && text.to_lowercase().contains("återkall"), "{text}");
    pages.visit(anna, "arende-aterkallat").await?;

    // ---- Maria, compliance officer: verify the log, search it, the extract as PDF, statistics.
    log_in(maria, apps.auditor).await?;
    maria.goto(&apps.auditor.url("/granskning")).await?;
    maria.click_button("Verifiera loggen").await?;
    let verified = maria.wait_for_id("verifiering").await?.text().await?;
    ensure!(verified.contains("hel och oförändrad"), "the log did not verify:\n{verified}");
    let size = number_after(&verified, "Trädstorlek").context("no tree size shown")?;
    let signed = std::thread::scope(|s| {
        s.spawn(|| apps.relay.query("SELECT MAX(size) FROM log_checkpoints")[0][0].clone()).join()
    })
    .ok()
    .flatten()
    .and_then(|v| v.parse::<u64>().ok())
    .context("the relay's largest checkpoint")?;
    ensure!(size >= 10 && size <= signed, "tree size {size}, the relay has signed up to {signed}");
    pages.visit(maria, "granskning").await?;
    maria.fill_id("sok-arende", &case).await?;
    maria.click_button("Sök i loggen").await?;
    let text = maria.text().await?;
    // Anna's fetch on the consent, and her refused fetch after the withdrawal, are in the log.
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("SE2321000032-al01")).collect();
    ensure!(
        rows.iter().any(|r| r.contains("Hämtade") && r.contains(&consent) && !r.contains("Nekad")),
        "the log search for the case shows no fetch by Anna on {consent}:\n{text}"
    );
    ensure!(
        rows.iter().any(|r| r.contains("Hämtade") && r.contains("Nekad")),
        "the log search for the case shows no refused fetch by Anna:\n{text}"
    );
    pages.visit(maria, "granskning-sok").await?;
    // The extract form is a GET of /granskning/utdrag?case=…, which answers with the PDF.
    let (status, pdf) = maria.fetch(&format!("/granskning/utdrag?case={case}")).await?;
    ensure!(status == 200, "the log extract: HTTP {status}: {}", String::from_utf8_lossy(&pdf));
    ensure!(pdf.starts_with(b"%PDF-"), "the log extract is not a PDF: {:?}", &pdf[..pdf.len().min(40)]);
    eprintln!("log extract of {case}: {} bytes of PDF", pdf.len());
    let year = time::OffsetDateTime::now_utc().year();
    maria.goto(&apps.auditor.url(&format!("/granskning/statistik?year={year}"))).await?;
    let text = maria.text().await?;
    ensure!(text.contains("Per huvudman") && maria.by_id("huvudman-rubrik").await.is_some(), "{text}");
    pages.visit(maria, "statistik").await?;

    // Staff are not auditors: Karin's app refuses the audit pages.
    let (status, _) = karin.fetch("/granskning").await?;
    ensure!(status == 403, "a municipality social worker got HTTP {status} for /granskning");
    karin.goto(&apps.kommun.url("/granskning")).await?;
    pages.visit(karin, "granskning-nekad").await?;
    Ok(())
}

/// On the invitation page of a case: invite the region to a SIP meeting (no e-mail: the encrypted
/// invitation goes through the relay), move it to another room, then cancel it.
async fn invite_update_cancel(karin: &Browser, pages: &mut Pages) -> Result<()> {
    let day = (time::OffsetDateTime::now_utc() + time::Duration::days(7)).date().to_string();
    karin.fill("datum", &day).await?;
    karin.fill("tid", "13:00").await?;
    karin.fill("langd", "90").await?;
    karin.fill("plats", "Stadshuset, rum 4").await?;
    karin.fill("videolank", "https://video.example/sip-mote").await?;
    karin.check("huvudman", REGION, true).await?;
    karin.click_button("Skicka kallelse").await?;
    let text = karin.text().await?;
    ensure!(text.contains("Kallelsen är skickad"), "the invitation was not sent:\n{text}");
    pages.visit(karin, "kallelse-skickad").await?;
    let link = karin
        .client
        .find(fantoccini::Locator::Css("main a[href^=\"/kallelse/\"]"))
        .await
        .context("no link to the invitation")?;
    karin.click_and_wait(&link).await?;
    pages.visit(karin, "kallelse-visa").await?;
    karin.fill("plats", "Stadshuset, rum 7").await?;
    karin.click_button("Skicka ändrad kallelse").await?;
    let text = karin.text().await?;
    ensure!(text.contains("Kallelsen är ändrad"), "the change was not sent:\n{text}");
    let link = karin
        .client
        .find(fantoccini::Locator::Css("main a[href^=\"/kallelse/\"]"))
        .await
        .context("no link to the invitation")?;
    karin.click_and_wait(&link).await?;
    karin.click_button("Ställ in mötet").await?;
    pages.visit(karin, "kallelse-stall-in").await?;
    karin.click_button("Ja, ställ in mötet").await?;
    let text = karin.text().await?;
    ensure!(text.contains("Mötet är inställt"), "the meeting was not cancelled:\n{text}");
    Ok(())
}

/// The accessibility check can fail: axe-core, injected as the scenario injects it, finds what is
/// wrong with a page that has no language, an image without text and a field without a label.
#[test]
fn the_accessibility_check_catches_a_bad_page() {
    runtime().block_on(async {
        let Some(browser) = Browser::start().await else { return };
        browser
            .goto("data:text/html,<title>t</title><body><img src='x.png'><input id=a></body>")
            .await
            .unwrap();
        let found = browser.axe().await.unwrap();
        let ids: Vec<&str> = found.iter().map(|v| v.id.as_str()).collect();
        for rule in ["html-has-lang", "image-alt", "label"] {
            assert!(ids.contains(&rule), "axe did not report {rule}: {ids:?}");
        }
        assert!(browser.assert_accessible("the bad page").await.is_err());
        browser.close().await;
    });
}
