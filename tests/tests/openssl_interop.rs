//! The `openssl` command as an independent verifier: our CMS signatures (alone and inside an
//! envelope) verify with `openssl cms`, signatures and certificates made by OpenSSL (ECDSA, RSA
//! PKCS#1 v1.5 and PSS, as SITHS cards make) verify with ours, and the operator guide
//! `certs/README.md` makes a federation that Samordna accepts, with revocation that takes effect.

#![allow(clippy::unwrap_used)]

use std::{
    fs,
    io::Cursor,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use samordna_core::{
    CaseId, CertError, ConsentId, ContentKind, EnvelopeId, HsaId, Identity, PrincipalId, SignatureError,
    Signer, TrustStore,
    attestation::KeyAttestation,
    devpki::{DevCa, Issued, PersonSpec, Usage},
    envelope::{RecipientKey, RecipientSecret, SealParams, open_to, seal},
    profile::{PROFILE_FILE, ProfileConfig},
    signature::verify_detached,
};
use samordna_tests::{COMMAND_TIME_LIMIT, binaries, openssl, run_within};
use time::{Duration, OffsetDateTime};

// ---------------------------------------------------------------------------------------------
// Helpers

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `openssl ARGS` in `dir` and requires success.
fn openssl_ok<const N: usize>(dir: &Path, args: [&str; N]) -> Output {
    let out = openssl(dir, args);
    assert!(out.status.success(), "openssl {args:?} failed (its output is printed above)");
    out
}

/// `openssl cms -verify` of a detached DER signature, as a recipient would check an archived `.p7s`.
fn openssl_cms_verify(dir: &Path, signature: &str, content: &str, root: &str) -> Output {
    openssl(
        dir,
        [
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            signature,
            "-content",
            content,
            "-CAfile",
            root,
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    )
}

/// The same bytes with one bit of one byte flipped.
fn changed(content: &[u8]) -> Vec<u8> {
    let mut c = content.to_vec();
    let i = c.len() / 2;
    c[i] ^= 0x01;
    c
}

/// openssl accepts `signature` over `content` against `root_pem`, and refuses it over the same
/// content with one byte changed. Files are named after `name` inside `dir`.
fn assert_openssl_verifies(dir: &Path, name: &str, signature: &[u8], content: &[u8], root_pem: &[u8]) {
    let (sig, bin, bad, root) = (
        format!("{name}.p7s"),
        format!("{name}.bin"),
        format!("{name}-changed.bin"),
        format!("{name}-root.pem"),
    );
    fs::write(dir.join(&sig), signature).unwrap();
    fs::write(dir.join(&bin), content).unwrap();
    fs::write(dir.join(&bad), changed(content)).unwrap();
    fs::write(dir.join(&root), root_pem).unwrap();

    let out = openssl_cms_verify(dir, &sig, &bin, &root);
    assert!(out.status.success(), "openssl refused our {name} signature");
    assert!(stderr(&out).contains("Verification successful"), "{}", stderr(&out));

    let out = openssl_cms_verify(dir, &sig, &bad, &root);
    assert!(!out.status.success(), "openssl accepted our {name} signature over changed content");
    assert!(stderr(&out).contains("Verification failure"), "{}", stderr(&out));
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn person_spec(principal: &str, organisation: &str, name: &str, hsa_id: &str) -> PersonSpec {
    PersonSpec {
        principal: PrincipalId::parse(principal).unwrap(),
        organisation: organisation.into(),
        name: name.into(),
        hsa_id: HsaId::parse(hsa_id).unwrap(),
        not_before: now() - Duration::hours(1),
        not_after: now() + Duration::days(365),
        usage: Usage::ClientAndSigning,
    }
}

/// A development federation made in-process with [`DevCa`]: a root, an empty CRL, and the trust
/// store of both.
struct DevFederation {
    ca: DevCa,
    crl_pem: String,
    trust: TrustStore,
}

impl DevFederation {
    fn new() -> Self {
        let ca =
            DevCa::new("Samordna testfederation", now() - Duration::hours(1), now() + Duration::days(3650))
                .unwrap();
        let crl_pem = ca.crl(1, &[], now() - Duration::hours(1), now() + Duration::days(30)).unwrap();
        let trust = TrustStore::from_pem(ca.root().cert_pem.as_bytes(), &[crl_pem.as_bytes()]).unwrap();
        DevFederation { ca, crl_pem, trust }
    }

    fn root_pem(&self) -> &[u8] {
        self.ca.root().cert_pem.as_bytes()
    }

    fn kommun(&self) -> Issued {
        self.ca
            .issue_person(&person_spec(
                "SE2120000449",
                "Linköpings kommun",
                "Karin Berg",
                "SE2120000449-kb01",
            ))
            .unwrap()
    }

    fn region(&self) -> Issued {
        self.ca
            .issue_person(&person_spec(
                "SE2321000032",
                "Region Östergötland",
                "Anna Lind",
                "SE2321000032-al01",
            ))
            .unwrap()
    }
}

fn signer(issued: &Issued) -> Signer {
    Signer::from_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes()).unwrap()
}

fn identity_fields(id: &Identity) -> (&str, &str, &str, &str) {
    (id.principal.as_str(), id.organisation.as_str(), id.name.as_str(), id.hsa_id.as_str())
}

/// Content that a text-mode signer would mangle: CRLF, NUL, bytes that are not UTF-8.
fn sample_content() -> Vec<u8> {
    let mut c = "SIP-plan för ärende S-01, mål och insatser\r\nrad två\n".as_bytes().to_vec();
    c.extend_from_slice(&[0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x80]);
    c
}

// ---------------------------------------------------------------------------------------------
// a. Our CMS signatures verify with openssl

#[test]
fn our_detached_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let fed = DevFederation::new();
    let signer = signer(&fed.kommun());
    let content = sample_content();
    let signature = signer.sign_detached(&content, now()).unwrap();
    // Our own verifier agrees, so openssl is compared with a signature we consider good.
    verify_detached(&signature, &content, &fed.trust, now()).unwrap();

    assert_openssl_verifies(dir.path(), "document", &signature, &content, fed.root_pem());

    // openssl really checks the chain: against another federation's root it refuses.
    let other = DevCa::new("Någon annan CA", now() - Duration::hours(1), now() + Duration::days(30)).unwrap();
    fs::write(dir.path().join("other-root.pem"), &other.root().cert_pem).unwrap();
    let out = openssl_cms_verify(dir.path(), "document.p7s", "document.bin", "other-root.pem");
    assert!(!out.status.success(), "openssl accepted a signature against the wrong root");

    // openssl reads the signed attributes we promise (docs/spec/envelope-v1.md §3). OpenSSL 3
    // also checks signing-certificate-v2 against the signer's certificate during -verify above.
    let out = openssl_ok(dir.path(), ["cms", "-cmsout", "-print", "-inform", "DER", "-in", "document.p7s"]);
    let printed = stdout(&out);
    for attribute in ["contentType", "signingTime", "messageDigest", "id-smime-aa-signingCertificateV2"] {
        assert!(printed.contains(attribute), "openssl does not see {attribute} in:\n{printed}");
    }
    assert!(printed.contains("eContent: <ABSENT>"), "not detached:\n{printed}");
}

#[test]
fn envelope_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let fed = DevFederation::new();
    let (kommun, region) = (signer(&fed.kommun()), signer(&fed.region()));

    // The region's encryption key, attested by the region and verified as a sending client does.
    let secret = RecipientSecret::from_bytes([0x42; 32]);
    let attestation = KeyAttestation::create(
        &region,
        &secret.public_key(),
        now() - Duration::hours(1),
        now() + Duration::days(30),
        now(),
    )
    .unwrap();
    let recipient = RecipientKey::from(&attestation.verify(&fed.trust, now()).unwrap());

    // Several STREAM chunks, so the document signature is over a digest computed while streaming.
    let document: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let params = SealParams {
        envelope_id: EnvelopeId::from_random_bytes([0x11; 16]),
        case_id: CaseId::from_random_bytes([0x22; 16]),
        consent_id: ConsentId::from_random_bytes([0x33; 16]),
        content_kind: ContentKind::Plan,
        recipients: vec![recipient],
        media_type: "application/pdf".into(),
        file_name: Some("sip-plan.pdf".into()),
        created: now(),
    };
    let mut envelope = Vec::new();
    seal(
        &params,
        &kommun,
        document.as_slice(),
        document.len() as u64,
        Cursor::new(Vec::new()),
        &mut envelope,
    )
    .unwrap();

    let mut opened = Vec::new();
    let verified = open_to(envelope.as_slice(), &[secret], &fed.trust, now(), &mut opened).unwrap();
    assert_eq!(opened, document);
    assert_eq!(identity_fields(&verified.author.signer.identity).3, "SE2120000449-kb01");

    // The `.p7s` a recipient archives next to the document.
    assert_openssl_verifies(dir.path(), "document", &verified.document_signature, &opened, fed.root_pem());
    // The sender's signature over the exact header bytes.
    assert_openssl_verifies(
        dir.path(),
        "header",
        &verified.header.signature,
        &verified.header.header_bytes,
        fed.root_pem(),
    );
}

// ---------------------------------------------------------------------------------------------
// b. The operator guide certs/README.md, run as written

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../certs/README.md")
}

/// The bodies of the README's ```sh blocks, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    // Runnable blocks are exactly ```sh; any other shell fence would silently rot.
                    assert!(
                        !matches!(info.trim(), "bash" | "shell" | "zsh"),
                        "certs/README.md has a ```{info} block: use ```sh (run by this test) or ```console"
                    );
                    if info.trim() == "sh" {
                        current = Some(String::new());
                    }
                }
            }
            Some(body) => {
                if line.trim_end() == "```" {
                    blocks.push(current.take().unwrap_or_default());
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    assert!(current.is_none(), "certs/README.md has an unterminated ```sh block");
    blocks
}

/// The README's sh blocks: the settings (the first block), the blocks that make the federation,
/// and the revocation blocks (from the first block that revokes).
struct Readme {
    settings: String,
    setup: String,
    revocation: String,
}

impl Readme {
    fn load() -> Self {
        let blocks = sh_blocks(&fs::read_to_string(readme_path()).unwrap());
        assert!(blocks.len() >= 6, "certs/README.md has only {} ```sh blocks", blocks.len());
        let settings = blocks[0].clone();
        // The settings block is run again before revocation (as an operator coming back later
        // does), so it must only set variables.
        for line in settings.lines().map(str::trim) {
            let assignment = line.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            });
            assert!(
                line.is_empty() || line.starts_with('#') || line.starts_with(": \"${") || assignment,
                "the README's first ```sh block must only set variables, but has: {line}"
            );
        }
        let revoke_at = blocks
            .iter()
            .position(|b| b.contains("-revoke"))
            .expect("certs/README.md shows no `openssl ca -revoke` block");
        Readme {
            setup: blocks[..revoke_at].join("\n"),
            revocation: format!("{settings}\n{}", blocks[revoke_at..].join("\n")),
            settings,
        }
    }

    /// Runs `script` with `bash -euo pipefail` in `dir`, as the README tells operators to.
    fn run(dir: &Path, name: &str, script: &str) -> Output {
        let path = dir.join(name);
        fs::write(&path, script).unwrap();
        run_within(
            Command::new("bash")
                .args(["-euo", "pipefail"])
                .arg(&path)
                .current_dir(dir)
                .env("CA_PASSPHRASE", "korrekt häst batteri häftklammer"),
            COMMAND_TIME_LIMIT,
        )
    }

    /// The values of settings `names`, as bash sees them after the settings block.
    fn values<const N: usize>(&self, dir: &Path, names: [&str; N]) -> [String; N] {
        let printf: Vec<String> = names.iter().map(|n| format!("\"${n}\"")).collect();
        let script = format!("{}\nprintf '%s\\0' {}\n", self.settings, printf.join(" "));
        let out = Self::run(dir, "settings.sh", &script);
        assert!(out.status.success());
        let text = stdout(&out);
        let values: Vec<String> = text.split_terminator('\0').map(str::to_owned).collect();
        values.try_into().unwrap()
    }
}

/// A signer and trust store loaded through the profile directory's profile.toml, as the client does.
fn load_profile(profile: &Path) -> (Signer, TrustStore) {
    let config: ProfileConfig =
        toml::from_str(&fs::read_to_string(profile.join(PROFILE_FILE)).unwrap()).unwrap();
    let signer = Signer::from_pem(
        &fs::read(profile.join(&config.certificate)).unwrap(),
        &fs::read(profile.join(&config.private_key)).unwrap(),
    )
    .unwrap();
    let crls: Vec<Vec<u8>> = config.crl.iter().map(|c| fs::read(profile.join(c)).unwrap()).collect();
    assert!(!crls.is_empty(), "the README's profile.toml names no CRL");
    let crl_refs: Vec<&[u8]> = crls.iter().map(Vec::as_slice).collect();
    let trust = TrustStore::from_pem(&fs::read(profile.join(&config.root_ca)).unwrap(), &crl_refs).unwrap();
    (signer, trust)
}

#[test]
fn the_readme_makes_a_federation_that_samordna_and_openssl_accept_and_revocation_takes_effect() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let readme = Readme::load();
    let out = Readme::run(d, "setup.sh", &readme.setup);
    assert!(out.status.success(), "the README's commands failed (output above)");

    let [org, principal, name, hsa_id, profile, relay_dns, relay_ip] = readme.values(
        d,
        [
            "PERSON_ORG",
            "PERSON_PRINCIPAL",
            "PERSON_NAME",
            "PERSON_HSA_ID",
            "PERSON_PROFILE",
            "RELAY_DNS",
            "RELAY_IP",
        ],
    );
    // The example exercises the -utf8 path.
    assert!(
        org.contains(['å', 'ä', 'ö', 'Å', 'Ä', 'Ö']),
        "the README's example organisation has no å, ä or ö"
    );
    let profile = d.join(profile);

    // The key is private, as the client requires.
    let mode = fs::metadata(profile.join("key.pem")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the README's key.pem has mode {mode:o}");

    // Samordna loads the person's certificate and key and accepts the certificate now, with the
    // identity the README set.
    let (signer, trust) = load_profile(&profile);
    let verified = trust.verify_signer(signer.certificate(), &[], now()).unwrap();
    assert_eq!(
        identity_fields(&verified.identity),
        (principal.as_str(), org.as_str(), name.as_str(), hsa_id.as_str())
    );

    // A signature by that person verifies with our verifier and with openssl.
    let content = sample_content();
    let signature = signer.sign_detached(&content, now()).unwrap();
    let ours = verify_detached(&signature, &content, &trust, now()).unwrap();
    assert_eq!(ours.signer.identity, verified.identity);
    assert_openssl_verifies(
        d,
        "readme-signature",
        &signature,
        &content,
        &fs::read(d.join("ca/root-ca.pem")).unwrap(),
    );

    // The client itself loads the profile as it is.
    let out = run_within(
        Command::new(&binaries().client).arg("--profile").arg(&profile).arg("whoami"),
        COMMAND_TIME_LIMIT,
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), format!("{name} ({hsa_id}), {org} [{principal}]"));

    // openssl agrees on both certificates: the person's for clients, the relay's for its names.
    openssl_ok(
        d,
        [
            "verify",
            "-CAfile",
            "ca/root-ca.pem",
            "-crl_check",
            "-CRLfile",
            "ca/crl.pem",
            "-purpose",
            "sslclient",
            &format!("{}/cert.pem", profile.display()),
        ],
    );
    openssl_ok(
        d,
        [
            "verify",
            "-CAfile",
            "relay/root-ca.pem",
            "-crl_check",
            "-CRLfile",
            "relay/crl.pem",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            &relay_dns,
            "-verify_ip",
            &relay_ip,
            "relay/server.pem",
        ],
    );
    let key_mode = fs::metadata(d.join("relay/server.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(key_mode, 0o600, "the README's relay/server.key has mode {key_mode:o}");
    // The root key is encrypted with the passphrase, never left in the clear.
    let root_key = fs::read_to_string(d.join("ca/root-ca.key")).unwrap();
    assert!(
        root_key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "the README's root key is not encrypted"
    );

    // The README says a CRL lasts 30 days and that Samordna then refuses every certificate: the
    // person's certificate is still valid in 31 days, its CRL is not.
    let err = trust.verify_signer(signer.certificate(), &[], now() + Duration::days(31)).unwrap_err();
    assert!(matches!(err, CertError::CrlExpired), "{err:?}");
    trust.verify_signer(signer.certificate(), &[], now() + Duration::days(29)).unwrap();

    // Revocation, as the README shows it, in a new shell.
    let out = Readme::run(d, "revoke.sh", &readme.revocation);
    assert!(out.status.success(), "the README's revocation commands failed (output above)");

    // The new CRL in the profile makes Samordna refuse the certificate and its signatures…
    let (_, trust) = load_profile(&profile);
    let err = trust.verify_signer(signer.certificate(), &[], now()).unwrap_err();
    assert!(matches!(err, CertError::Revoked), "{err:?}");
    let err = verify_detached(&signature, &content, &trust, now()).unwrap_err();
    assert!(matches!(err, SignatureError::Certificate(CertError::Revoked)), "{err:?}");
    // …the relay's copy too…
    let relay_trust = TrustStore::from_pem(
        &fs::read(d.join("relay/root-ca.pem")).unwrap(),
        &[&fs::read(d.join("relay/crl.pem")).unwrap()],
    )
    .unwrap();
    let err = relay_trust.verify_signer(signer.certificate(), &[], now()).unwrap_err();
    assert!(matches!(err, CertError::Revoked), "{err:?}");
    // …and the client, with a message that says so.
    let out = run_within(
        Command::new(&binaries().client).arg("--profile").arg(&profile).arg("whoami"),
        COMMAND_TIME_LIMIT,
    );
    assert!(!out.status.success(), "the client still loads a revoked profile");
    assert!(stderr(&out).contains("revoked"), "{}", stderr(&out));
    // openssl sees the revocation in the same CRL.
    let out = openssl(
        d,
        [
            "verify",
            "-CAfile",
            "ca/root-ca.pem",
            "-crl_check",
            "-CRLfile",
            "ca/crl.pem",
            "-purpose",
            "sslclient",
            &format!("{}/cert.pem", profile.display()),
        ],
    );
    assert!(!out.status.success());
    assert!(stdout(&out).contains("revoked") || stderr(&out).contains("revoked"), "{}", stderr(&out));
}

#[test]
fn the_readme_refuses_to_issue_for_a_principal_id_with_a_wrong_check_digit() {
    let dir = tempfile::tempdir().unwrap();
    let readme = Readme::load();
    // As if the operator had typed the last digit wrong in the settings.
    let [principal] = readme.values(dir.path(), ["PERSON_PRINCIPAL"]);
    let last = principal.chars().last().and_then(|c| c.to_digit(10)).unwrap();
    let wrong = format!("{}{}", &principal[..principal.len() - 1], (last + 1) % 10);
    assert!(PrincipalId::parse(&wrong).is_err());
    let script = readme.setup.replacen(
        &readme.settings,
        &format!("{}PERSON_PRINCIPAL=\"{wrong}\"\n", readme.settings),
        1,
    );
    assert_ne!(script, readme.setup);

    let out = Readme::run(dir.path(), "setup.sh", &script);
    assert!(!out.status.success(), "the README issued a certificate for principal id {wrong}");
    assert!(stderr(&out).contains("Not issued"), "{}", stderr(&out));
    let [profile] = readme.values(dir.path(), ["PERSON_PROFILE"]);
    assert!(!dir.path().join(profile).join("cert.pem").exists());
}

// ---------------------------------------------------------------------------------------------
// c. Signatures made by OpenSSL verify with ours: RSA (SITHS cards) and ECDSA

/// A CA config for tests that make their own OpenSSL CA (the README's, trimmed).
const TEST_CA_CNF: &str = r#"
[ ca ]
default_ca = test_ca
[ test_ca ]
dir              = .
database         = $dir/index.txt
new_certs_dir    = $dir/newcerts
certificate      = $dir/root.pem
private_key      = $dir/root.key
crlnumber        = $dir/crlnumber
rand_serial      = yes
unique_subject   = no
default_md       = sha256
default_days     = 30
default_crl_days = 30
crl_extensions   = crl_ext
copy_extensions  = none
string_mask      = utf8only
utf8             = yes
policy           = person_policy
[ person_policy ]
countryName            = match
organizationName       = supplied
organizationIdentifier = supplied
commonName             = supplied
serialNumber           = supplied
[ root_ca ]
basicConstraints     = critical, CA:true
keyUsage             = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ person_cert ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, nonRepudiation
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[ crl_ext ]
authorityKeyIdentifier = keyid:always
"#;

/// An RSA-2048 root with a CRL and an RSA-2048 person certificate, all made by OpenSSL in `dir`:
/// `root.pem`, `crl.pem`, `person.pem`, `person.key`. Returns the trust store of root and CRL.
fn openssl_rsa_federation(dir: &Path) -> TrustStore {
    fs::create_dir(dir.join("newcerts")).unwrap();
    fs::write(dir.join("index.txt"), "").unwrap();
    fs::write(dir.join("crlnumber"), "01\n").unwrap();
    fs::write(dir.join("ca.cnf"), TEST_CA_CNF).unwrap();
    for key in ["root.key", "person.key"] {
        openssl_ok(dir, ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key]);
    }
    openssl_ok(
        dir,
        [
            "req",
            "-new",
            "-x509",
            "-config",
            "ca.cnf",
            "-extensions",
            "root_ca",
            "-key",
            "root.key",
            "-utf8",
            "-subj",
            "/C=SE/O=Testregion Östergötland/CN=RSA-testrot",
            "-days",
            "30",
            "-sha256",
            "-out",
            "root.pem",
        ],
    );
    openssl_ok(
        dir,
        [
            "req",
            "-new",
            "-config",
            "/dev/null",
            "-key",
            "person.key",
            "-utf8",
            "-subj",
            "/C=SE/O=Region Östergötland/organizationIdentifier=SE2321000032/CN=Åsa Öberg/serialNumber=SE2321000032-ao02",
            "-out",
            "person.csr",
        ],
    );
    openssl_ok(
        dir,
        [
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-extensions",
            "person_cert",
            "-in",
            "person.csr",
            "-out",
            "person.pem",
            "-notext",
        ],
    );
    openssl_ok(dir, ["ca", "-batch", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem"]);
    TrustStore::from_pem(&fs::read(dir.join("root.pem")).unwrap(), &[&fs::read(dir.join("crl.pem")).unwrap()])
        .unwrap()
}

/// `openssl cms -sign` of `content.bin` in `dir` into `out`, with `extra` options.
fn openssl_cms_sign(dir: &Path, cert: &str, key: &str, out: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-outform",
        "DER",
        "-signer",
        cert,
        "-inkey",
        key,
        "-in",
        "content.bin",
        "-out",
        out,
    ];
    args.extend_from_slice(extra);
    let res = openssl(dir, &args);
    assert!(res.status.success(), "openssl {args:?} failed (output above)");
    fs::read(dir.join(out)).unwrap()
}

/// openssl's description of a CMS structure.
fn cms_print(dir: &Path, signature: &str) -> String {
    stdout(&openssl_ok(dir, ["cms", "-cmsout", "-print", "-inform", "DER", "-in", signature]))
}

/// The SignerInfo's signatureAlgorithm in [`cms_print`] output.
fn printed_signature_algorithm(printed: &str) -> String {
    let mut lines = printed.lines().skip_while(|l| !l.trim_start().starts_with("signatureAlgorithm:"));
    // "signatureAlgorithm:" is followed by "algorithm: rsassaPss (1.2.840.113549.1.1.10)".
    let algorithm = lines
        .nth(1)
        .and_then(|l| l.trim().strip_prefix("algorithm: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    assert!(!algorithm.is_empty(), "no signatureAlgorithm in:\n{printed}");
    algorithm
}

#[test]
fn rsa_signatures_made_by_openssl_verify_pkcs1_and_pss() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let trust = openssl_rsa_federation(d);
    let content = sample_content();
    fs::write(d.join("content.bin"), &content).unwrap();
    let expected = ("SE2321000032", "Region Östergötland", "Åsa Öberg", "SE2321000032-ao02");

    let cases: [(&str, &[&str], &str); 4] = [
        ("pkcs1.p7s", &["-md", "sha256"], "rsaEncryption"),
        ("pkcs1-sha512.p7s", &["-md", "sha512"], "rsaEncryption"),
        (
            "pss.p7s",
            &["-md", "sha256", "-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:32"],
            "rsassaPss",
        ),
        // The signer named by subject key identifier instead of issuer and serial number.
        ("pkcs1-keyid.p7s", &["-md", "sha256", "-keyid"], "rsaEncryption"),
    ];
    for (name, options, algorithm) in cases {
        let signature = openssl_cms_sign(d, "person.pem", "person.key", name, options);
        // The test really exercises the padding and signer identifier it names.
        let printed = cms_print(d, name);
        assert_eq!(printed_signature_algorithm(&printed), algorithm, "{name}");
        let by_key_id = printed.contains("d.subjectKeyIdentifier:");
        assert_eq!(by_key_id, options.contains(&"-keyid"), "{name}: signer identifier in:\n{printed}");

        let verified = verify_detached(&signature, &content, &trust, now())
            .unwrap_or_else(|e| panic!("{name}: our verifier refused OpenSSL's signature: {e:?}"));
        assert_eq!(identity_fields(&verified.signer.identity), expected, "{name}");
        assert!(verified.signing_time.is_some(), "{name}: no signing time");

        let err = verify_detached(&signature, &changed(&content), &trust, now()).unwrap_err();
        assert!(matches!(err, SignatureError::DigestMismatch), "{name}: {err:?}");
    }

    // PSS with a salt shorter than the hash is refused as unsupported (ring verifies only salts
    // as long as the hash), never accepted on a guess.
    let short_salt = openssl_cms_sign(
        d,
        "person.pem",
        "person.key",
        "pss-salt20.p7s",
        &["-md", "sha256", "-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:20"],
    );
    let err = verify_detached(&short_salt, &content, &trust, now()).unwrap_err();
    assert!(matches!(err, SignatureError::Unsupported(_)), "{err:?}");

    // A signature by the RSA person whose value was damaged is refused as a bad signature.
    let mut damaged = openssl_cms_sign(d, "person.pem", "person.key", "damaged.p7s", &["-md", "sha256"]);
    let at = damaged.len() - 10; // inside the RSA signature value, the last field of the SignerInfo
    damaged[at] ^= 0x01;
    let err = verify_detached(&damaged, &content, &trust, now()).unwrap_err();
    assert!(matches!(err, SignatureError::BadSignature), "{err:?}");
}

#[test]
fn ecdsa_signatures_made_by_openssl_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fed = DevFederation::new();
    let person = fed.kommun();
    fs::write(d.join("person.pem"), &person.cert_pem).unwrap();
    fs::write(d.join("person.key"), &person.key_pem).unwrap();
    let content = sample_content();
    fs::write(d.join("content.bin"), &content).unwrap();

    for (name, md, algorithm) in
        [("ecdsa.p7s", "sha256", "ecdsa-with-SHA256"), ("ecdsa-sha384.p7s", "sha384", "ecdsa-with-SHA384")]
    {
        let signature = openssl_cms_sign(d, "person.pem", "person.key", name, &["-md", md]);
        assert_eq!(printed_signature_algorithm(&cms_print(d, name)), algorithm, "{name}");
        let verified = verify_detached(&signature, &content, &fed.trust, now())
            .unwrap_or_else(|e| panic!("{name}: our verifier refused OpenSSL's signature: {e:?}"));
        assert_eq!(
            identity_fields(&verified.signer.identity),
            ("SE2120000449", "Linköpings kommun", "Karin Berg", "SE2120000449-kb01"),
            "{name}"
        );
        let err = verify_detached(&signature, &changed(&content), &fed.trust, now()).unwrap_err();
        assert!(matches!(err, SignatureError::DigestMismatch), "{name}: {err:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// d. openssl accepts what dev-federation writes, and sees our CRLs

#[test]
fn openssl_accepts_the_certificates_and_crl_that_dev_federation_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let res = run_within(
        Command::new(&binaries().relay).arg("dev-federation").arg("--out").arg(d.join("fed")),
        COMMAND_TIME_LIMIT,
    );
    assert!(res.status.success());
    let fed = d.join("fed");

    // The CRL's signature verifies against the root.
    let out = openssl_ok(&fed, ["crl", "-in", "ca/crl.pem", "-CAfile", "ca/root-ca.pem", "-noout"]);
    assert!(stderr(&out).contains("verify OK"), "{}", stderr(&out));

    openssl_ok(
        &fed,
        [
            "verify",
            "-CAfile",
            "relay/root-ca.pem",
            "-crl_check",
            "-CRLfile",
            "relay/crl.pem",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "localhost",
            "-verify_ip",
            "127.0.0.1",
            "relay/server.pem",
        ],
    );
    for profile in ["region", "municipality", "school", "auditor"] {
        let p = fed.join("profiles").join(profile);
        openssl_ok(
            &p,
            [
                "verify",
                "-CAfile",
                "root-ca.pem",
                "-crl_check",
                "-CRLfile",
                "crl.pem",
                "-purpose",
                "sslclient",
                "cert.pem",
            ],
        );
        // A signature made with the profile's key verifies with openssl against the profile's root.
        let (signer, _) = load_profile(&p);
        let content = sample_content();
        let signature = signer.sign_detached(&content, now()).unwrap();
        assert_openssl_verifies(d, profile, &signature, &content, &fs::read(p.join("root-ca.pem")).unwrap());
    }
}

#[test]
fn openssl_sees_revocations_in_crls_that_we_make() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fed = DevFederation::new();
    let (kept, revoked) = (fed.region(), fed.kommun());
    let crl =
        fed.ca.crl(2, &[revoked.serial], now() - Duration::hours(1), now() + Duration::days(30)).unwrap();
    fs::write(d.join("root.pem"), fed.root_pem()).unwrap();
    fs::write(d.join("crl-empty.pem"), &fed.crl_pem).unwrap();
    fs::write(d.join("crl.pem"), &crl).unwrap();
    fs::write(d.join("kept.pem"), &kept.cert_pem).unwrap();
    fs::write(d.join("revoked.pem"), &revoked.cert_pem).unwrap();

    let verify = |crl: &str, cert: &str| {
        openssl(
            d,
            ["verify", "-CAfile", "root.pem", "-crl_check", "-CRLfile", crl, "-purpose", "sslclient", cert],
        )
    };
    assert!(verify("crl.pem", "kept.pem").status.success());
    assert!(verify("crl-empty.pem", "revoked.pem").status.success());
    let out = verify("crl.pem", "revoked.pem");
    assert!(!out.status.success(), "openssl accepted a certificate our CRL revokes");
    assert!(stdout(&out).contains("revoked") || stderr(&out).contains("revoked"), "{}", stderr(&out));

    // And our verifier agrees on the same CRL.
    let trust = TrustStore::from_pem(fed.root_pem(), &[crl.as_bytes()]).unwrap();
    trust.verify_signer(signer(&kept).certificate(), &[], now()).unwrap();
    let err = trust.verify_signer(signer(&revoked).certificate(), &[], now()).unwrap_err();
    assert!(matches!(err, CertError::Revoked), "{err:?}");
}
