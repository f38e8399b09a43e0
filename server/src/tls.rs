//! TLS with client certificates: rustls on ring, TLS 1.3 and 1.2 only.
//!
//! Client certificates are validated during the handshake (chain to the federation root, CRLs for
//! every certificate of the chain, expired CRLs refused, extended key usage clientAuth, and key
//! usage digitalSignature when the extension is present), so nothing from a
//! client without a federation certificate reaches the HTTP parser. A refused handshake is logged:
//! [`RefusalLoggingAcceptor`] catches the handshake error, names its reason, and — through a
//! task-local slot that the verifier fills during the same poll — the certificate that was refused.

use std::{
    cell::RefCell,
    fmt,
    future::Future,
    io,
    net::SocketAddr,
    path::Path,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use anyhow::{Context as _, Result};
use axum_server::{
    accept::{Accept, NoDelayAcceptor},
    tls_rustls::RustlsAcceptor,
};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    server::{
        WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime, pem::PemObject,
};
use samordna_core::{
    Identity,
    audit::Reason,
    cert::{check_tls_client_key_usage, fingerprint, is_self_issued},
};
use tokio::{net::TcpStream, sync::mpsc};

use crate::config::TlsConfig;

/// A handshake the relay refused.
#[derive(Clone, Debug, Default)]
pub struct Refusal {
    /// Why.
    pub reason: Option<Reason>,
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// SHA-256 of the refused certificate.
    pub fingerprint: Option<String>,
    /// The identity the refused certificate claims (unverified: it was refused).
    pub claimed: Option<Identity>,
    /// rustls's description.
    pub detail: String,
}

/// Builds the server configuration from files.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let chain = CertificateDer::pem_slice_iter(&read(&tls.certificate)?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("tls.certificate {} is not PEM", tls.certificate.display()))?;
    if chain.is_empty() {
        anyhow::bail!("tls.certificate {} holds no certificate", tls.certificate.display());
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&tls.private_key)?)
        .with_context(|| format!("tls.private_key {} holds no private key", tls.private_key.display()))?;

    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read(&tls.client_ca)?) {
        let cert = cert.with_context(|| format!("tls.client_ca {} is not PEM", tls.client_ca.display()))?;
        roots.add(cert).with_context(|| {
            format!("tls.client_ca {} is not a usable CA certificate", tls.client_ca.display())
        })?;
    }
    let mut crls = Vec::new();
    for path in &tls.crl {
        for crl in CertificateRevocationListDer::pem_slice_iter(&read(path)?) {
            crls.push(crl.with_context(|| format!("tls.crl {} is not a PEM CRL", path.display()))?);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .enforce_revocation_expiration()
        .build()
        .context("cannot build the client certificate verifier (check tls.client_ca and tls.crl)")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS versions")?
        .with_client_cert_verifier(Arc::new(RecordingVerifier { inner: verifier }))
        .with_single_cert(chain, key)
        .context("the relay's certificate and private key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate the verifier refused.
#[derive(Debug)]
struct RefusedCertificate {
    fingerprint: String,
    /// The identity it claims, if it names one.
    claimed: Option<Identity>,
    /// Why, as precisely as the certificate itself tells (self-signed rather than unknown issuer).
    reason: Option<Reason>,
}

tokio::task_local! {
    /// Set by the acceptor while it polls a handshake; the verifier puts the refused certificate here.
    static REFUSED_CERTIFICATE: RefCell<Option<RefusedCertificate>>;
}

/// Delegates to webpki's verifier and, on refusal, records which certificate was refused.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for RecordingVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        true
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let result = self.inner.verify_client_cert(end_entity, intermediates, now).and_then(|verified| {
            // webpki checks the extended key usage only; the key must also be allowed to sign.
            match check_tls_client_key_usage(end_entity) {
                Ok(()) => Ok(verified),
                Err(samordna_core::cert::CertError::WrongUsage(_)) => {
                    Err(rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose))
                }
                Err(_) => Err(rustls::Error::InvalidCertificate(CertificateError::BadEncoding)),
            }
        });
        if let Err(e) = &result {
            let reason = refusal_reason(e).map(|r| match r {
                Reason::CertificateUnknownIssuer if is_self_issued(end_entity) => {
                    Reason::CertificateSelfSigned
                }
                other => other,
            });
            let info = RefusedCertificate {
                fingerprint: fingerprint(end_entity),
                claimed: Identity::from_certificate(end_entity).ok(),
                reason,
            };
            // Outside an acceptor (never in the relay) there is no slot, and nothing to record.
            let _ = REFUSED_CERTIFICATE.try_with(|slot| *slot.borrow_mut() = Some(info));
        }
        result
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The reason code for a handshake error, if it is about the client's certificate.
pub fn refusal_reason(e: &rustls::Error) -> Option<Reason> {
    use CertificateError as C;
    Some(match e {
        rustls::Error::NoCertificatesPresented => Reason::NoClientCertificate,
        rustls::Error::InvalidCertificate(c) => match c {
            C::Revoked => Reason::CertificateRevoked,
            C::Expired | C::ExpiredContext { .. } => Reason::CertificateExpired,
            C::NotValidYet | C::NotValidYetContext { .. } => Reason::CertificateNotYetValid,
            C::UnknownIssuer => Reason::CertificateUnknownIssuer,
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => Reason::CertificateWrongUsage,
            _ => Reason::CertificateInvalid,
        },
        _ => return None,
    })
}

/// Wraps axum-server's rustls acceptor: every refused handshake becomes a [`Refusal`].
#[derive(Clone)]
pub struct RefusalLoggingAcceptor {
    inner: RustlsAcceptor<NoDelayAcceptor>,
    refusals: mpsc::Sender<Refusal>,
}

impl fmt::Debug for RefusalLoggingAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefusalLoggingAcceptor").finish_non_exhaustive()
    }
}

impl RefusalLoggingAcceptor {
    /// Refusals go to `refusals` (dropped, and counted, if the writer falls behind).
    pub fn new(inner: RustlsAcceptor<NoDelayAcceptor>, refusals: mpsc::Sender<Refusal>) -> Self {
        RefusalLoggingAcceptor { inner, refusals }
    }
}

/// Polls the handshake with the task-local slot in scope, so the verifier can fill it.
struct WithSlot<F> {
    inner: Pin<Box<F>>,
    slot: Arc<Mutex<Option<RefusedCertificate>>>,
}

impl<F: Future> Future for WithSlot<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let (poll, found) = REFUSED_CERTIFICATE.sync_scope(RefCell::new(None), || {
            let poll = this.inner.as_mut().poll(cx);
            let found = REFUSED_CERTIFICATE.with(|s| s.borrow_mut().take());
            (poll, found)
        });
        if let (Some(found), Ok(mut slot)) = (found, this.slot.lock()) {
            *slot = Some(found);
        }
        poll
    }
}

impl<S: Send + 'static> Accept<TcpStream, S> for RefusalLoggingAcceptor {
    type Stream = <RustlsAcceptor<NoDelayAcceptor> as Accept<TcpStream, S>>::Stream;
    type Service = <RustlsAcceptor<NoDelayAcceptor> as Accept<TcpStream, S>>::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let peer = stream.peer_addr().ok();
        let slot = Arc::new(Mutex::new(None));
        let handshake = WithSlot { inner: Box::pin(self.inner.accept(stream, service)), slot: slot.clone() };
        let refusals = self.refusals.clone();
        Box::pin(async move {
            let result = handshake.await;
            if let Err(e) = &result {
                let tls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
                let certificate = slot.lock().ok().and_then(|mut s| s.take());
                // The verifier's reason, when it refused the certificate, is the more precise one.
                let reason = certificate
                    .as_ref()
                    .and_then(|c| c.reason)
                    .or_else(|| tls_error.and_then(refusal_reason));
                if reason.is_some() || certificate.is_some() {
                    let (fingerprint, claimed) =
                        certificate.map_or((None, None), |c| (Some(c.fingerprint), c.claimed));
                    let refusal = Refusal {
                        reason: Some(reason.unwrap_or(Reason::CertificateInvalid)),
                        peer,
                        fingerprint,
                        claimed,
                        detail: e.to_string(),
                    };
                    if refusals.try_send(refusal).is_err() {
                        tracing::warn!(?peer, "refusal log queue full; a refused handshake was not logged");
                    }
                } else {
                    tracing::debug!(?peer, error = %e, "TLS handshake failed");
                }
            }
            result
        })
    }
}

impl<F> fmt::Debug for WithSlot<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithSlot").finish_non_exhaustive()
    }
}
