//! A real browser for the tests of `samordna web`: Debian's headless Chromium driven through its
//! own WebDriver server (`chromedriver`, Debian package `chromium-driver`) with fantoccini, and
//! axe-core (npm, pinned in `tests/web/package-lock.json`) run inside the page for the
//! accessibility check.
//!
//! When Chromium, chromedriver or axe-core is missing, [`Browser::start`] returns `None` with a
//! loud message, unless `SAMORDNA_REQUIRE_TEST_TOOLS=1` (as in CI), where it panics instead.

use std::{
    fmt,
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The window the pages are looked at (and screenshot) in.
pub const WINDOW: (u32, u32) = (1280, 1000);
/// How long a test waits for an element or a page.
pub const WAIT: Duration = Duration::from_secs(20);

/// The WCAG tags axe-core checks: WCAG 2.0 and 2.1, levels A and AA.
pub const AXE_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// Whether the tests must have their tools (CI) rather than skip without them.
pub fn tools_required() -> bool {
    std::env::var("SAMORDNA_REQUIRE_TEST_TOOLS").is_ok_and(|v| v == "1")
}

/// Where axe-core's browser bundle is: `SAMORDNA_AXE_JS`, else `tests/web/node_modules` as
/// `npm ci --prefix tests/web` installs it.
pub fn axe_path() -> PathBuf {
    std::env::var_os("SAMORDNA_AXE_JS").filter(|p| !p.is_empty()).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web/node_modules/axe-core/axe.min.js")
    })
}

/// What is missing to run the browser tests, as sentences (empty when all is there).
pub fn missing_tools() -> Vec<String> {
    let mut missing = Vec::new();
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        if !Path::new(path).exists() {
            missing.push(format!("{path} (Debian package {package})"));
        }
    }
    let axe = axe_path();
    if !axe.exists() {
        missing.push(format!("{} (run `npm ci --prefix tests/web`)", axe.display()));
    }
    missing
}

/// Whether the browser tests can run: `false` (after a loud message) when a tool is missing, and
/// a panic instead when `SAMORDNA_REQUIRE_TEST_TOOLS=1`.
pub fn available() -> bool {
    let missing = missing_tools();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !tools_required(),
        "the browser tests need {} (SAMORDNA_REQUIRE_TEST_TOOLS=1); .ci/run installs them",
        missing.join(", ")
    );
    eprintln!(
        "\n!!! SKIPPED: the browser tests of `samordna web` did not run: missing {} !!!\n",
        missing.join(", ")
    );
    false
}

/// A free port on the loopback interface (bound, read, and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// A headless Chromium and the chromedriver it runs under; both are killed on drop.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    /// Chromium's profile directory (a fresh one per browser).
    _profile: tempfile::TempDir,
    axe_js: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session.
    /// `None` (after a loud message) when a tool is missing and the tools are not required.
    pub async fn start() -> Option<Browser> {
        if !available() {
            return None;
        }
        Some(Self::launch().await.unwrap_or_else(|e| panic!("could not start headless Chromium: {e:#}")))
    }

    async fn launch() -> Result<Browser> {
        let axe_js = std::fs::read_to_string(axe_path()).context("read axe-core")?;
        let port = free_port();
        let log = std::env::temp_dir().join(format!("samordna-chromedriver-{port}.log"));
        // Its own process group, so that drop kills Chromium with it.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            // Chromium on Linux takes its interface language (e.g. of date fields) from LANGUAGE
            // (Swedish when Debian's chromium-l10n is installed; English otherwise).
            .env("LANGUAGE", "sv")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start chromedriver")?;
        let profile = tempfile::tempdir().context("a profile directory for Chromium")?;
        let mut browser = PendingDriver { driver: Some(driver) };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > WAIT {
                bail!("chromedriver did not listen on port {port} within {WAIT:?} (log: {})", log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless=new".to_owned(),
            // CI runs as root, where Chromium's sandbox cannot start.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            // Containers have a small /dev/shm.
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            "--lang=sv-SE".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), json!({ "binary": CHROMIUM, "args": args }));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| anyhow!("new WebDriver session: {e} (chromedriver log: {})", log.display()))?;
        let driver = browser.driver.take().context("chromedriver")?;
        Ok(Browser { client, driver, _profile: profile, axe_js })
    }

    /// Ends the session cleanly (drop kills the processes in any case).
    pub async fn close(self) {
        // The processes are killed on drop whether or not the session closed cleanly.
        let _ = self.client.clone().close().await;
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client.goto(url).await.with_context(|| format!("open {url}"))?;
        self.loaded().await
    }

    /// The path and query of the current page (e.g. `/arende/S-…`).
    pub async fn path(&self) -> Result<String> {
        let url = self.client.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// Waits until the document has loaded.
    pub async fn loaded(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            let state = self.client.execute("return document.readyState", vec![]).await?;
            if state == "complete" {
                return Ok(());
            }
            if started.elapsed() > WAIT {
                bail!("the page did not finish loading within {WAIT:?} (readyState {state})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The form field named `name` (the first, if several).
    pub async fn field(&self, name: &str) -> Result<Element> {
        let here = self.path().await.unwrap_or_default();
        self.client
            .find(Locator::Css(&format!("[name=\"{}\"]", css_escape(name))))
            .await
            .with_context(|| format!("no field named {name:?} on {here}"))
    }

    /// Types `value` into the field with `id` (as [`Browser::fill`]).
    pub async fn fill_id(&self, id: &str, value: &str) -> Result<()> {
        let el = self.client.find(Locator::Id(id)).await.with_context(|| format!("no field id={id:?}"))?;
        self.fill_element(&el, id, value).await
    }

    /// Types `value` into the field named `name` (text, textarea, select by value; date and time
    /// fields are set through the DOM, since typing into them depends on the browser's locale).
    pub async fn fill(&self, name: &str, value: &str) -> Result<()> {
        let el = self.field(name).await?;
        self.fill_element(&el, name, value).await
    }

    async fn fill_element(&self, el: &Element, name: &str, value: &str) -> Result<()> {
        let tag = el.tag_name().await?.to_ascii_lowercase();
        let kind = el.attr("type").await?.unwrap_or_default().to_ascii_lowercase();
        if tag == "select" {
            return el.select_by_value(value).await.with_context(|| format!("select {value:?} in {name:?}"));
        }
        if matches!(kind.as_str(), "date" | "time" | "datetime-local" | "month" | "week") {
            let el_json = serde_json::to_value(el)?;
            self.client
                .execute(
                    "arguments[0].value = arguments[1];\
                     arguments[0].dispatchEvent(new Event('input', {bubbles: true}));\
                     arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
                    vec![el_json, json!(value)],
                )
                .await?;
            return Ok(());
        }
        el.clear().await.with_context(|| format!("clear {name:?}"))?;
        el.send_keys(value).await.with_context(|| format!("type into {name:?}"))
    }

    /// Sets the checkbox or radio button `name` with `value` to `on`.
    pub async fn check(&self, name: &str, value: &str, on: bool) -> Result<()> {
        let el = self
            .client
            .find(Locator::Css(&format!(
                "input[name=\"{}\"][value=\"{}\"]",
                css_escape(name),
                css_escape(value)
            )))
            .await
            .with_context(|| format!("no checkbox or radio button {name:?} = {value:?}"))?;
        if el.is_selected().await? != on
            && let Err(e) = el.click().await
        {
            // A styled control may be covered by its label: click the label instead.
            let id = el.attr("id").await?.unwrap_or_default();
            let label = self
                .client
                .find(Locator::Css(&format!("label[for=\"{}\"]", css_escape(&id))))
                .await
                .with_context(|| format!("click {name:?} = {value:?}: {e}"))?;
            label.click().await.with_context(|| format!("click the label of {name:?} = {value:?}"))?;
        }
        if el.is_selected().await? != on {
            bail!("{name:?} = {value:?} did not become {}", if on { "checked" } else { "unchecked" });
        }
        Ok(())
    }

    /// Clicks the button (or submit input) whose visible text, id, name or value is `label`, and waits
    /// for the page it leads to.
    pub async fn click_button(&self, label: &str) -> Result<()> {
        let lit = xpath_literal(label);
        let xpath = format!(
            "//button[normalize-space(.)={lit} or @id={lit} or @name={lit} or @value={lit}] | \
             //input[(@type='submit' or @type='button') and (@value={lit} or @id={lit} or @name={lit})]"
        );
        let here = self.path().await.unwrap_or_default();
        let mut visible = None;
        for b in self.client.find_all(Locator::XPath(&xpath)).await? {
            if b.is_displayed().await? {
                visible = Some(b);
                break;
            }
        }
        let button = visible.with_context(|| format!("no visible button {label:?} on {here}"))?;
        self.click_and_wait(&button).await
    }

    /// Clicks the link whose visible text is `text` and waits for the page it leads to.
    pub async fn click_link(&self, text: &str) -> Result<()> {
        let here = self.path().await.unwrap_or_default();
        let link = self
            .client
            .find(Locator::XPath(&format!("//a[normalize-space(.)={}]", xpath_literal(text))))
            .await
            .with_context(|| format!("no link {text:?} on {here}"))?;
        self.click_and_wait(&link).await
    }

    /// Clicks `el`, then waits until the page it was on has been replaced and the new one loaded.
    pub async fn click_and_wait(&self, el: &Element) -> Result<()> {
        let old = self.client.find(Locator::Css("html")).await?;
        el.click().await.context("click")?;
        let started = Instant::now();
        // The old document's root goes stale once the browser has navigated.
        while old.tag_name().await.is_ok() {
            if started.elapsed() > WAIT {
                bail!("the click led to no new page within {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.loaded().await
    }

    /// Waits for the element with `id` and returns it.
    pub async fn wait_for_id(&self, id: &str) -> Result<Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Id(id))
            .await
            .with_context(|| format!("no element id={id:?} appeared within {WAIT:?}"))
    }

    /// The element with `id`, if the current page has one.
    pub async fn by_id(&self, id: &str) -> Option<Element> {
        self.client.find(Locator::Id(id)).await.ok()
    }

    /// The page's visible text.
    pub async fn text(&self) -> Result<String> {
        Ok(self.client.find(Locator::Css("body")).await?.text().await?)
    }

    /// The page's HTML.
    pub async fn source(&self) -> Result<String> {
        Ok(self.client.source().await?)
    }

    /// Saves a screenshot of the whole page (the window grown to the page's height) as a PNG.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let height = self
            .client
            .execute("return Math.ceil(document.documentElement.scrollHeight)", vec![])
            .await?
            .as_u64()
            .unwrap_or(u64::from(WINDOW.1));
        let height = u32::try_from(height.clamp(400, 6000)).unwrap_or(WINDOW.1);
        self.client.set_window_size(WINDOW.0, height.max(WINDOW.1)).await?;
        let png = self.client.screenshot().await;
        self.client.set_window_size(WINDOW.0, WINDOW.1).await?;
        let png = png?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("make {}", dir.display()))?;
        }
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }

    /// Runs `fetch(path)` in the page (with the page's cookies) and returns (status, body bytes).
    pub async fn fetch(&self, path: &str) -> Result<(u16, Vec<u8>)> {
        let got = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 fetch(arguments[0], {credentials: 'same-origin'})\
                   .then(r => r.arrayBuffer().then(b => {\
                     const hex = Array.from(new Uint8Array(b), x => x.toString(16).padStart(2, '0')).join('');\
                     done({status: r.status, type: r.headers.get('content-type'), hex: hex});\
                   }))\
                   .catch(e => done({error: String(e)}));",
                vec![json!(path)],
            )
            .await?;
        if let Some(e) = got.get("error") {
            bail!("fetch {path}: {e}");
        }
        let status = got["status"].as_u64().and_then(|s| u16::try_from(s).ok()).context("a status")?;
        let bytes = hex::decode(got["hex"].as_str().unwrap_or_default()).context("hex body")?;
        Ok((status, bytes))
    }

    /// Runs axe-core in the current page for WCAG 2.0/2.1 A and AA and returns the violations
    /// whose impact is serious or critical. (axe is injected through WebDriver, which the page's
    /// Content-Security-Policy does not govern; the page itself loads no script for it.)
    pub async fn axe(&self) -> Result<Vec<Violation>> {
        let loaded = self.client.execute("return typeof window.axe", vec![]).await?;
        if loaded != "object" {
            self.client.execute(&self.axe_js, vec![]).await.context("inject axe-core")?;
            let loaded = self.client.execute("return typeof window.axe", vec![]).await?;
            if loaded != "object" {
                bail!("axe-core did not load into the page (window.axe is {loaded})");
            }
        }
        let tags: Vec<Value> = AXE_TAGS.iter().map(|t| json!(t)).collect();
        let got = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})\
                   .then(r => done({violations: r.violations.map(v => ({\
                     id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,\
                     nodes: v.nodes.map(n => ({target: n.target.map(String).join(' '), html: n.html,\
                       summary: n.failureSummary || ''}))}))}))\
                   .catch(e => done({error: String(e)}));",
                vec![json!(tags)],
            )
            .await
            .context("run axe-core")?;
        if let Some(e) = got.get("error") {
            bail!("axe-core failed: {e}");
        }
        let all: Vec<Violation> =
            serde_json::from_value(got["violations"].clone()).context("axe-core's violations")?;
        let (bad, minor): (Vec<Violation>, Vec<Violation>) = all.into_iter().partition(Violation::serious);
        for v in &minor {
            eprintln!("axe (not failing: {}) {}", v.impact.as_deref().unwrap_or("?"), v);
        }
        Ok(bad)
    }

    /// Runs [`Browser::axe`] and fails, listing each violation readably, when there is any.
    pub async fn assert_accessible(&self, page: &str) -> Result<()> {
        let bad = self.axe().await?;
        if bad.is_empty() {
            eprintln!("axe: {page}: no serious or critical violation");
            return Ok(());
        }
        let list: Vec<String> = bad.iter().map(|v| v.to_string()).collect();
        bail!("axe-core: {} serious or critical violation(s) on {page}:\n{}", bad.len(), list.join("\n"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// chromedriver before the session is up: killed if starting fails.
struct PendingDriver {
    driver: Option<Child>,
}

impl Drop for PendingDriver {
    fn drop(&mut self) {
        if let Some(child) = self.driver.as_mut() {
            kill_group(child);
        }
    }
}

/// Kills `child` and its process group (Chromium, started by chromedriver, is in it).
fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// One axe-core rule that failed, with the elements it failed on.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    /// The rule (e.g. `color-contrast`).
    pub id: String,
    /// minor, moderate, serious or critical.
    pub impact: Option<String>,
    /// What the rule asks.
    pub help: String,
    /// Deque's page on the rule.
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    /// The elements that fail it.
    pub nodes: Vec<ViolationNode>,
}

/// An element that fails an axe-core rule.
#[derive(Debug, Clone, Deserialize)]
pub struct ViolationNode {
    /// Its CSS selector.
    pub target: String,
    /// Its HTML (shortened by axe).
    pub html: String,
    /// What to fix.
    pub summary: String,
}

impl Violation {
    /// Whether the violation is serious or critical.
    pub fn serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "  [{}] {}: {} ({})",
            self.impact.as_deref().unwrap_or("?"),
            self.id,
            self.help,
            self.help_url
        )?;
        for n in &self.nodes {
            write!(f, "\n    at {}: {}", n.target, n.html)?;
            for line in n.summary.lines() {
                write!(f, "\n      {line}")?;
            }
        }
        Ok(())
    }
}

/// `s` for use inside a double-quoted CSS attribute selector.
fn css_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `s` as an XPath 1.0 string literal (which has no escapes: concat() when it holds both quotes).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
