//! One error type for everything that can go wrong talking to the relay.

use std::{error::Error as StdError, fmt, path::PathBuf};

use samordna_core::{api::ErrorBody, audit::Reason};
use serde::{Serialize, Serializer};

use super::tls::{TlsProblem, tls_problem};

/// The relay's machine code for a refusal: one of [`Reason`], or a code this client does not know
/// yet (a newer relay), kept as it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// A code this client knows.
    Known(Reason),
    /// A code this client does not know.
    Unknown(String),
}

impl ErrorCode {
    /// From the wire.
    pub fn parse(s: &str) -> Self {
        Reason::parse(s).map_or_else(|| ErrorCode::Unknown(s.to_owned()), ErrorCode::Known)
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Known(r) => r.as_str(),
            ErrorCode::Unknown(s) => s,
        }
    }

    /// The reason, if known.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            ErrorCode::Known(r) => Some(*r),
            ErrorCode::Unknown(_) => None,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a request to the relay did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The relay answered with a refusal (`{"error": {...}}`).
    #[error("{message} ({code}{})", request_id.as_deref().map(|r| format!("; relay request id {r}")).unwrap_or_default())]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The stable code.
        code: ErrorCode,
        /// The relay's sentence.
        message: String,
        /// The relay's id for the request, to quote to its operator.
        request_id: Option<String>,
    },
    /// The TLS handshake failed.
    #[error("{0}")]
    Tls(TlsProblem),
    /// The relay could not be reached at all.
    #[error(
        "cannot reach the relay at {url}: {detail}; check your network connection and relay_url in profile.toml, or try again later"
    )]
    Unreachable {
        /// The relay's base URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The relay did not answer in time.
    #[error("the relay at {url} did not answer in time; try again later")]
    Timeout {
        /// The relay's base URL.
        url: String,
    },
    /// The relay's answer was not what the API promises.
    #[error("the relay gave an unexpected answer{}: {detail}; tell the relay's operator{}",
        status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(),
        request_id.as_deref().map(|r| format!(" (relay request id {r})")).unwrap_or_default())]
    Protocol {
        /// The HTTP status, if one came.
        status: Option<u16>,
        /// What was wrong.
        detail: String,
        /// The relay's id for the request.
        request_id: Option<String>,
    },
    /// The client could not be set up (a bad `relay_url`, an unusable certificate for TLS).
    #[error("{0}")]
    Config(String),
    /// A local file used for a transfer failed.
    #[error("cannot use {path} for the transfer: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl RelayError {
    /// The refusal code, for refusals.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            RelayError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether trying the same request again may succeed: the relay was unreachable, timed out, or
    /// said it is temporarily unavailable. TLS failures and refusals are not retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            RelayError::Unreachable { .. } | RelayError::Timeout { .. } => true,
            RelayError::Refused { code, .. } => {
                matches!(code.reason(), Some(Reason::Unavailable) | Some(Reason::Timeout))
            }
            _ => false,
        }
    }

    /// Classifies a reqwest error: TLS problems first (they hide deep in the source chain), then
    /// timeouts and connection failures.
    pub fn from_reqwest(url: &str, e: reqwest::Error) -> Self {
        if let Some(p) = tls_problem(&e) {
            return RelayError::Tls(p);
        }
        if e.is_timeout() {
            return RelayError::Timeout { url: url.to_owned() };
        }
        if e.is_decode() {
            return RelayError::Protocol {
                status: e.status().map(|s| s.as_u16()),
                detail: innermost(&e),
                request_id: None,
            };
        }
        RelayError::Unreachable { url: url.to_owned(), detail: innermost(&e) }
    }
}

/// The innermost message of an error chain: the one that says what actually happened
/// ("Connection refused" rather than "error sending request").
fn innermost(e: &(dyn StdError + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Turns a non-success answer into an error: the relay's `ErrorBody` if it sent one, else a
/// protocol error (a proxy in between, a crash).
pub fn refusal(status: u16, body: &[u8], header_request_id: Option<String>) -> RelayError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => RelayError::Refused {
            status,
            code: ErrorCode::parse(&error.code),
            message: error.message,
            request_id: error.request_id.or(header_request_id),
        },
        Err(_) => RelayError::Protocol {
            status: Some(status),
            detail: "the answer is not a Samordna error".into(),
            request_id: header_request_id,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_becomes_a_refusal_with_its_reason() {
        let body = br#"{"error":{"code":"recipient_not_a_party","message":"SE5569875437 is not a party to consent K-1; record a new consent that names them","request_id":"7f3a"}}"#;
        let e = refusal(403, body, Some("from-header".into()));
        match &e {
            RelayError::Refused { status, code, message, request_id } => {
                assert_eq!(*status, 403);
                assert_eq!(*code, ErrorCode::Known(Reason::RecipientNotAParty));
                assert!(message.starts_with("SE5569875437 is not a party"));
                assert_eq!(request_id.as_deref(), Some("7f3a"), "the body's id wins");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "SE5569875437 is not a party to consent K-1; record a new consent that names them (recipient_not_a_party; relay request id 7f3a)"
        );
        assert!(!e.is_retryable());
    }

    #[test]
    fn an_unknown_code_is_kept_as_it_came() {
        let body = br#"{"error":{"code":"quota_exceeded","message":"too many"}}"#;
        let e = refusal(429, body, Some("r-9".into()));
        match &e {
            RelayError::Refused { code, request_id, .. } => {
                assert_eq!(*code, ErrorCode::Unknown("quota_exceeded".into()));
                assert_eq!(code.as_str(), "quota_exceeded");
                assert_eq!(code.reason(), None);
                assert_eq!(request_id.as_deref(), Some("r-9"), "the header's id when the body has none");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(serde_json::to_string(e.code().unwrap()).unwrap(), "\"quota_exceeded\"");
    }

    #[test]
    fn unavailable_is_retried_and_other_bodies_are_protocol_errors() {
        let e = refusal(
            503,
            br#"{"error":{"code":"unavailable","message":"the database does not answer"}}"#,
            None,
        );
        assert!(e.is_retryable());
        let e = refusal(502, b"<html>Bad Gateway</html>", Some("x".into()));
        assert!(matches!(e, RelayError::Protocol { status: Some(502), .. }), "{e:?}");
        assert!(e.to_string().contains("HTTP 502"), "{e}");
    }
}
