//! The TLS configuration for talking to the relay, and what a failed handshake means for a person.
//!
//! ring is the only crypto provider in the tree, so the configuration names it explicitly rather
//! than relying on a process-wide default. The relay's certificate is checked against the
//! profile's federation root and CRLs, the same trust that every signature is checked against.

use std::{error::Error as StdError, fmt, io, sync::Arc};

use rustls::{
    AlertDescription, CertificateError, ClientConfig, RootCertStore,
    client::WebPkiServerVerifier,
    pki_types::{CertificateDer, PrivateKeyDer},
};
use samordna_core::TrustStore;

/// Builds the client TLS configuration: TLS 1.3 or 1.2 with ring, the relay's certificate checked
/// against `trust` (root and CRLs, an expired CRL refused), and our certificate chain and key for
/// client authentication.
pub fn client_config(
    trust: &TrustStore,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for root in trust.roots() {
        roots.add(root.clone())?;
    }
    let mut verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if !trust.crls().is_empty() {
        // As for signatures (samordna_core::cert): a stale CRL is an error, not a pass.
        verifier = verifier.with_crls(trust.crls().iter().cloned()).enforce_revocation_expiration();
    }
    let verifier = verifier.build().map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)?;
    // A preconfigured rustls config is used as is by reqwest, ALPN included.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// What went wrong in a TLS handshake with the relay, in terms a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsProblem {
    /// The relay sent `certificate_revoked`.
    OurCertificateRevoked,
    /// The relay sent `certificate_expired`.
    OurCertificateExpired,
    /// The relay sent `unknown_ca` or `bad_certificate`.
    OurCertificateNotFromFederation,
    /// The relay sent `certificate_required`.
    OurCertificateRequired,
    /// The relay sent another alert about our certificate (`unsupported_certificate`, …).
    OurCertificateRefused(String),
    /// The relay ended the handshake with some other alert.
    RelayAlert(String),
    /// The relay's certificate does not chain to the profile's root.
    RelayNotFromFederation,
    /// The relay's certificate is on the CRL.
    RelayCertificateRevoked,
    /// The relay's certificate has expired.
    RelayCertificateExpired,
    /// The relay's certificate is not valid yet (or our clock is wrong).
    RelayCertificateNotYetValid,
    /// The relay's certificate does not name the host of `relay_url`.
    RelayWrongName,
    /// The profile's CRL has passed its next update.
    CrlExpired,
    /// No CRL of the profile covers the relay's certificate.
    RevocationUnknown,
    /// The relay's certificate is unusable for another reason.
    RelayCertificateInvalid(String),
    /// Any other TLS failure.
    Other(String),
}

impl TlsProblem {
    /// From a rustls error seen by the client.
    pub fn from_rustls(e: &rustls::Error) -> Self {
        match e {
            rustls::Error::AlertReceived(alert) => Self::from_alert(*alert),
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    Self::RelayNotFromFederation
                }
                CertificateError::Revoked => Self::RelayCertificateRevoked,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    Self::RelayCertificateExpired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    Self::RelayCertificateNotYetValid
                }
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    Self::RelayWrongName
                }
                CertificateError::ExpiredRevocationList
                | CertificateError::ExpiredRevocationListContext { .. } => Self::CrlExpired,
                CertificateError::UnknownRevocationStatus => Self::RevocationUnknown,
                other => Self::RelayCertificateInvalid(format!("{other:?}")),
            },
            other => Self::Other(other.to_string()),
        }
    }

    /// From an alert the relay sent.
    pub fn from_alert(alert: AlertDescription) -> Self {
        match alert {
            AlertDescription::CertificateRevoked => Self::OurCertificateRevoked,
            AlertDescription::CertificateExpired => Self::OurCertificateExpired,
            AlertDescription::UnknownCA | AlertDescription::BadCertificate => {
                Self::OurCertificateNotFromFederation
            }
            AlertDescription::CertificateRequired => Self::OurCertificateRequired,
            AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied => Self::OurCertificateRefused(alert_name(alert)),
            other => Self::RelayAlert(alert_name(other)),
        }
    }

    /// A stable code for `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OurCertificateRevoked => "tls_certificate_revoked",
            Self::OurCertificateExpired => "tls_certificate_expired",
            Self::OurCertificateNotFromFederation => "tls_certificate_unknown_ca",
            Self::OurCertificateRequired => "tls_certificate_required",
            Self::OurCertificateRefused(_) => "tls_certificate_refused",
            Self::RelayAlert(_) => "tls_alert",
            Self::RelayNotFromFederation => "tls_relay_untrusted",
            Self::RelayCertificateRevoked => "tls_relay_revoked",
            Self::RelayCertificateExpired => "tls_relay_expired",
            Self::RelayCertificateNotYetValid => "tls_relay_not_yet_valid",
            Self::RelayWrongName => "tls_relay_wrong_name",
            Self::CrlExpired => "tls_crl_expired",
            Self::RevocationUnknown => "tls_revocation_unknown",
            Self::RelayCertificateInvalid(_) => "tls_relay_invalid",
            Self::Other(_) => "tls",
        }
    }
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const IT: &str = "ask your organisation's IT for a new one";
        match self {
            Self::OurCertificateRevoked => {
                write!(f, "the relay refused your certificate: it has been revoked; {IT}")
            }
            Self::OurCertificateExpired => {
                write!(f, "the relay refused your certificate: it has expired; {IT}")
            }
            Self::OurCertificateNotFromFederation => write!(
                f,
                "the relay refused your certificate: it was not issued by the federation's CA; \
                 check certificate in profile.toml, or {IT}"
            ),
            Self::OurCertificateRequired => write!(
                f,
                "the relay requires a certificate; check certificate and private_key in profile.toml"
            ),
            Self::OurCertificateRefused(alert) => write!(
                f,
                "the relay refused your certificate ({alert}); {IT}, or ask the relay's operator why"
            ),
            Self::RelayAlert(alert) => write!(
                f,
                "the relay ended the secure connection ({alert}); try again later, and tell the relay's operator if it persists"
            ),
            Self::RelayNotFromFederation => write!(
                f,
                "the relay's certificate is not issued by your federation's CA (check root_ca in profile.toml)"
            ),
            Self::RelayCertificateRevoked => write!(
                f,
                "the relay's certificate has been revoked; nothing was sent; tell the relay's operator"
            ),
            Self::RelayCertificateExpired => {
                write!(f, "the relay's certificate has expired; nothing was sent; tell the relay's operator")
            }
            Self::RelayCertificateNotYetValid => write!(
                f,
                "the relay's certificate is not valid yet; check this computer's clock, or tell the relay's operator"
            ),
            Self::RelayWrongName => write!(
                f,
                "the relay's certificate is not valid for the host name in relay_url (check relay_url in profile.toml)"
            ),
            Self::CrlExpired => write!(
                f,
                "the certificate revocation list in your profile has expired; install a fresh CRL from your federation's CA (crl in profile.toml)"
            ),
            Self::RevocationUnknown => write!(
                f,
                "no certificate revocation list in your profile covers the relay's certificate (check crl in profile.toml)"
            ),
            Self::RelayCertificateInvalid(why) => {
                write!(f, "the relay's certificate is not acceptable ({why}); tell the relay's operator")
            }
            Self::Other(why) => write!(f, "the secure connection to the relay failed: {why}"),
        }
    }
}

/// The TLS alert name as the RFCs spell it (`certificate_revoked`).
fn alert_name(alert: AlertDescription) -> String {
    // rustls's Debug is the CamelCase variant name; turn it into the RFC's snake_case.
    let camel = format!("{alert:?}");
    let mut out = String::with_capacity(camel.len() + 4);
    let mut prev: Option<char> = None;
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            if prev.is_some_and(|p| !p.is_ascii_uppercase()) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    out
}

/// Finds a rustls error anywhere in an error's source chain. `io::Error` hides the error it wraps
/// from `source()`, so each `io::Error` is looked into as well.
pub fn tls_problem(err: &(dyn StdError + 'static)) -> Option<TlsProblem> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(TlsProblem::from_rustls(r));
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            let inner: &(dyn StdError + 'static) = inner;
            if let Some(p) = tls_problem(inner) {
                return Some(p);
            }
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that wraps another, as hyper and reqwest do.
    #[derive(Debug)]
    struct Wrapper(Box<dyn StdError + Send + Sync>);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("request failed")
        }
    }
    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }

    fn wrapped(e: rustls::Error) -> Wrapper {
        // rustls's errors reach reqwest inside an io::Error, inside hyper's error.
        Wrapper(Box::new(Wrapper(Box::new(io::Error::new(io::ErrorKind::InvalidData, e)))))
    }

    #[test]
    fn alerts_from_the_relay_become_sentences() {
        let cases = [
            (
                AlertDescription::CertificateRevoked,
                "the relay refused your certificate: it has been revoked; ask your organisation's IT for a new one",
            ),
            (
                AlertDescription::CertificateExpired,
                "the relay refused your certificate: it has expired; ask your organisation's IT for a new one",
            ),
            (
                AlertDescription::UnknownCA,
                "the relay refused your certificate: it was not issued by the federation's CA",
            ),
            (AlertDescription::BadCertificate, "it was not issued by the federation's CA"),
            (AlertDescription::CertificateRequired, "the relay requires a certificate"),
            (AlertDescription::AccessDenied, "the relay refused your certificate (access_denied)"),
            (AlertDescription::HandshakeFailure, "(handshake_failure)"),
        ];
        for (alert, sentence) in cases {
            let err = wrapped(rustls::Error::AlertReceived(alert));
            let problem = tls_problem(&err).unwrap_or_else(|| panic!("{alert:?} not found in the chain"));
            assert!(problem.to_string().contains(sentence), "{alert:?}: {problem}");
        }
    }

    #[test]
    fn an_untrusted_relay_certificate_points_at_root_ca() {
        let err = wrapped(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        let p = tls_problem(&err).unwrap();
        assert_eq!(p, TlsProblem::RelayNotFromFederation);
        assert_eq!(
            p.to_string(),
            "the relay's certificate is not issued by your federation's CA (check root_ca in profile.toml)"
        );
        let crl = wrapped(rustls::Error::InvalidCertificate(CertificateError::ExpiredRevocationList));
        assert_eq!(tls_problem(&crl), Some(TlsProblem::CrlExpired));
        let name = wrapped(rustls::Error::InvalidCertificate(CertificateError::NotValidForName));
        assert!(tls_problem(&name).unwrap().to_string().contains("relay_url"));
    }

    #[test]
    fn other_errors_are_not_tls_problems() {
        let err = Wrapper(Box::new(io::Error::new(io::ErrorKind::ConnectionRefused, "refused")));
        assert_eq!(tls_problem(&err), None);
    }

    #[test]
    fn alert_names_are_the_rfc_names() {
        assert_eq!(alert_name(AlertDescription::CertificateRevoked), "certificate_revoked");
        assert_eq!(alert_name(AlertDescription::UnknownCA), "unknown_ca");
        assert_eq!(alert_name(AlertDescription::AccessDenied), "access_denied");
    }
}
