//! The relay's TLS configuration as an independent scanner sees it: `sslscan` (Debian package
//! `sslscan`, OpenSSL-based) against the real relay on loopback, and `openssl s_client` without a
//! client certificate.
//!
//! The rule for cipher suites: every suite the relay accepts must be an AEAD (AES-GCM or
//! ChaCha20-Poly1305) with an ephemeral (EC)DHE key exchange (TLS 1.3 suites are all of that) and
//! at least 128-bit strength. That one rule excludes NULL, anonymous, EXPORT, RC4, DES and 3DES,
//! every CBC suite (and with it the SHA-1 and MD5 record MACs of TLS ≤ 1.2: Lucky 13, POODLE-style
//! padding oracles), and static-RSA key exchange (no forward secrecy, ROBOT). It is the profile
//! of BSI TR-02102-2 and Mozilla's "intermediate" configuration restricted to AEAD suites.
//!
//! Skipped when `sslscan` is not installed, unless `SAMORDNA_REQUIRE_TEST_TOOLS=1` (as in CI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::Write,
    process::{Command, Stdio},
};

use samordna_tests::relay::{Backend, TestRelay};

/// Whether a tool is on PATH; panics if it is missing and the tests must have it.
fn have(tool: &str) -> bool {
    let found =
        Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found && std::env::var("SAMORDNA_REQUIRE_TEST_TOOLS").as_deref() == Ok("1") {
        panic!("{tool} is required (SAMORDNA_REQUIRE_TEST_TOOLS=1); install the Debian package {tool}");
    }
    found
}

/// One XML element: its name and attributes (sslscan writes one element per line).
#[derive(Debug, Clone)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Element {
    fn get(&self, key: &str) -> &str {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// The start tags of an XML document, with their attributes (enough for sslscan's flat output).
fn elements(xml: &str) -> Vec<Element> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with(['/', '?', '!']) {
            continue;
        }
        let tag = tag.trim_end_matches('/').trim();
        let (name, mut attrs_text) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        let mut attrs = Vec::new();
        while let Some(eq) = attrs_text.find("=\"") {
            let key = attrs_text[..eq].trim().to_owned();
            let after = &attrs_text[eq + 2..];
            let Some(close) = after.find('"') else { break };
            attrs.push((key, after[..close].to_owned()));
            attrs_text = &after[close + 1..];
        }
        out.push(Element { name: name.to_owned(), attrs });
    }
    out
}

/// The text between `<tag>` and `</tag>`, for each occurrence.
fn texts<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(rest[..j].trim());
        rest = &rest[j..];
    }
    out
}

/// Whether an accepted cipher suite passes the rule in the module documentation.
fn sound_suite(version: &str, name: &str, bits: u32) -> Result<(), String> {
    if bits < 128 {
        return Err(format!("{bits}-bit strength"));
    }
    let upper = name.to_ascii_uppercase();
    for weak in
        ["NULL", "EXP", "ANON", "ADH", "AECDH", "RC4", "DES", "MD5", "CBC", "IDEA", "SEED", "PSK", "SRP"]
    {
        if upper.contains(weak) {
            return Err(format!("contains {weak}"));
        }
    }
    let aead = upper.contains("GCM") || upper.contains("CHACHA20");
    if !aead {
        return Err("not an AEAD suite (GCM or ChaCha20-Poly1305)".into());
    }
    if version != "TLSv1.3" && !(upper.starts_with("ECDHE-") || upper.starts_with("DHE-")) {
        return Err("no ephemeral key exchange (no forward secrecy)".into());
    }
    Ok(())
}

fn sslscan(relay: &TestRelay, client_cert: bool) -> String {
    let mut c = Command::new("sslscan");
    c.args(["--xml=-", "--no-colour", "--show-client-cas", "--sni-name=localhost"]);
    if client_cert {
        let profile = relay.profile("municipality");
        c.arg(format!("--certs={}", profile.join("cert.pem").display()))
            .arg(format!("--pk={}", profile.join("key.pem").display()));
    }
    c.arg(format!("127.0.0.1:{}", relay.port));
    let out = c.output().expect("run sslscan");
    assert!(out.status.success(), "sslscan failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("sslscan writes UTF-8")
}

/// The scan's findings, asserted; returns a short summary for the log.
/// `with_cert`: the scan presented a federation certificate, so TLS 1.2 handshakes completed too.
fn check_scan(xml: &str, root_cn: &str, with_cert: bool) -> String {
    let els = elements(xml);
    assert!(els.iter().any(|e| e.name == "ssltest"), "not an sslscan report:\n{xml}");

    // Protocols: nothing below TLS 1.2; 1.2 and 1.3 offered.
    let protocol = |kind: &str, version: &str| {
        els.iter()
            .find(|e| e.name == "protocol" && e.get("type") == kind && e.get("version") == version)
            .map(|e| e.get("enabled") == "1")
            .unwrap_or_else(|| panic!("sslscan did not report {kind} {version}:\n{xml}"))
    };
    for (kind, version) in [("ssl", "2"), ("ssl", "3"), ("tls", "1.0"), ("tls", "1.1")] {
        assert!(!protocol(kind, version), "{kind} {version} is enabled:\n{xml}");
    }
    assert!(protocol("tls", "1.2"), "TLS 1.2 is not offered:\n{xml}");
    assert!(protocol("tls", "1.3"), "TLS 1.3 is not offered:\n{xml}");

    // No TLS compression (CRIME), no renegotiation (rustls does none), not vulnerable to Heartbleed.
    for e in els.iter().filter(|e| e.name == "compression") {
        assert_eq!(e.get("supported"), "0", "compression: {e:?}");
    }
    for e in els.iter().filter(|e| e.name == "renegotiation") {
        assert_eq!(e.get("supported"), "0", "renegotiation: {e:?}");
    }
    for e in els.iter().filter(|e| e.name == "heartbleed") {
        assert_eq!(e.get("vulnerable"), "0", "heartbleed: {e:?}");
    }

    // Every accepted suite passes the rule; at least one per protocol version.
    let ciphers: Vec<&Element> = els.iter().filter(|e| e.name == "cipher").collect();
    // Without a certificate sslscan's TLS 1.2 probes end at the relay's certificate request, so it
    // can list TLS 1.2 suites only when it has a certificate to present.
    let versions: &[&str] = if with_cert { &["TLSv1.2", "TLSv1.3"] } else { &["TLSv1.3"] };
    for version in versions {
        assert!(
            ciphers.iter().any(|c| c.get("sslversion") == *version),
            "no {version} suite accepted:\n{xml}"
        );
    }
    for c in &ciphers {
        let (version, name) = (c.get("sslversion"), c.get("cipher"));
        assert!(version == "TLSv1.2" || version == "TLSv1.3", "suite of {version}: {c:?}");
        let bits: u32 = c.get("bits").parse().unwrap_or(0);
        if let Err(why) = sound_suite(version, name, bits) {
            panic!("the relay accepts {version} {name}: {why}");
        }
        assert_ne!(c.get("strength"), "weak", "{c:?}");
        assert_ne!(c.get("strength"), "medium", "{c:?}");
    }
    // Key exchange groups: at least 128-bit security (X25519, P-256, P-384).
    let groups: Vec<&Element> = els.iter().filter(|e| e.name == "group").collect();
    for g in &groups {
        let bits: u32 = g.get("bits").parse().unwrap_or(0);
        assert!(bits >= 128, "weak key exchange group {g:?}");
    }

    // A client certificate is asked for, from the federation's CA.
    // sslscan 2.0 lists them as <ca> elements.
    let cas: Vec<&str> = texts(xml, "ca").into_iter().chain(texts(xml, "client-ca")).collect();
    assert!(
        cas.iter().any(|ca| ca.contains(root_cn)),
        "the relay does not name the federation root ({root_cn}) as client CA: {cas:?}\n{xml}"
    );

    let mut summary = String::new();
    let enabled: Vec<String> = els
        .iter()
        .filter(|e| e.name == "protocol" && e.get("enabled") == "1")
        .map(|e| format!("{} {}", e.get("type").to_uppercase(), e.get("version")))
        .collect();
    summary += &format!("protocols enabled: {}\n", enabled.join(", "));
    for c in &ciphers {
        summary += &format!(
            "  {} {} {} bits{}\n",
            c.get("sslversion"),
            c.get("cipher"),
            c.get("bits"),
            if c.get("status") == "preferred" { " (preferred)" } else { "" }
        );
    }
    let names: Vec<&str> = groups.iter().map(|g| g.get("name")).collect();
    summary += &format!("groups: {}\nclient CAs: {cas:?}\n", names.join(", "));
    summary
}

/// `openssl s_client` without a certificate: the handshake may complete (TLS 1.3 sends the
/// client's empty Certificate after the server's Finished), but no HTTP answer comes back, and the
/// relay's alert is certificate_required (TLS 1.3) or a handshake failure (TLS 1.2).
fn no_certificate_gets_no_answer(relay: &TestRelay) {
    for version in ["-tls1_3", "-tls1_2"] {
        // -quiet implies -ign_eof: s_client reads until the relay closes the connection.
        let mut child = Command::new("timeout")
            .args(["30", "openssl", "s_client", "-quiet", version, "-servername", "localhost", "-CAfile"])
            .arg(relay.fed.join("ca/root-ca.pem"))
            .arg("-connect")
            .arg(format!("127.0.0.1:{}", relay.port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run openssl s_client");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stdout.contains("HTTP/1.1"), "{version}: an answer without a certificate:\n{stdout}");
        let alert = if version == "-tls1_3" { "alert certificate required" } else { "alert" };
        assert!(stderr.contains(alert), "{version}: expected the relay's {alert}:\n{stderr}");
        eprintln!(
            "openssl s_client {version} without a certificate: {}",
            stderr.lines().last().unwrap_or("")
        );
    }
    // Protocols below TLS 1.2 are refused at the handshake.
    for version in ["-tls1_1", "-tls1"] {
        let out = Command::new("openssl")
            .args(["s_client", "-brief", version, "-connect"])
            .arg(format!("127.0.0.1:{}", relay.port))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{version} handshake succeeded");
    }
}

#[test]
fn an_independent_scanner_finds_only_strong_tls() {
    if !have("sslscan") {
        eprintln!("skipped: sslscan is not installed (Debian package sslscan)");
        return;
    }
    let relay = TestRelay::start(Backend::Sqlite).expect("relay");
    let root = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "multiline", "-in"])
        .arg(relay.fed.join("ca/root-ca.pem"))
        .output()
        .unwrap();
    let subject = String::from_utf8_lossy(&root.stdout).into_owned();
    let root_cn = subject
        .lines()
        .find_map(|l| l.trim().strip_prefix("commonName").map(|v| v.trim_start_matches([' ', '=']).trim()))
        .expect("root CN")
        .to_owned();

    // Anonymous, as an attacker scans; then with a federation certificate, so that handshakes
    // complete and no accepted suite is missed.
    let anonymous = check_scan(&sslscan(&relay, false), &root_cn, false);
    let with_cert = check_scan(&sslscan(&relay, true), &root_cn, true);
    eprintln!("sslscan, without a client certificate:\n{anonymous}\nwith one:\n{with_cert}");
    no_certificate_gets_no_answer(&relay);
}
