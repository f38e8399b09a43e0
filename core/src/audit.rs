//! Stable codes for what the access log records: actions, and the reasons for every decision.
//!
//! These numbers are stored in every relay's database and appear in audit exports. **Never renumber
//! or reuse one**; add new ones at the end of their range. The string forms are the API's error
//! codes (`{"error":{"code": …}}`) and are just as stable.

use core::fmt;

use serde::{Deserialize, Serialize};

macro_rules! stable_codes {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$vdoc:meta])* $variant:ident = $num:literal, $text:literal, )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )*
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stored number.
            pub fn code(self) -> u16 {
                match self { $($name::$variant => $num,)* }
            }

            /// The stable text form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// From the stored number.
            pub fn from_code(code: u16) -> Option<Self> {
                match code { $($num => Some($name::$variant),)* _ => None }
            }

            /// From the text form.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom(format!(concat!("unknown ", stringify!($name), " {:?}"), s)))
            }
        }
    };
}

stable_codes!(
    /// What a request did (or tried to do).
    Action {
        /// A TLS client presented a certificate (logged when it is refused).
        Authenticate = 1, "authenticate",
        /// Read the principal directory.
        DirectoryRead = 10, "directory_read",
        /// Published an encryption key attestation.
        KeyPublish = 11, "key_publish",
        /// Read a principal's keys.
        KeyRead = 12, "key_read",
        /// Published a witness (cosigning) key.
        WitnessKeyPublish = 13, "witness_key_publish",
        /// Opened a SIP case.
        CaseOpen = 20, "case_open",
        /// Read a case.
        CaseRead = 21, "case_read",
        /// Closed a case.
        CaseClose = 22, "case_close",
        /// Recorded a consent.
        ConsentRecord = 30, "consent_record",
        /// Read a consent.
        ConsentRead = 31, "consent_read",
        /// Withdrew a consent.
        ConsentWithdraw = 32, "consent_withdraw",
        /// Blocked a party or kind of a consent (*spärr*).
        ConsentBlock = 33, "consent_block",
        /// Uploaded an envelope.
        EnvelopeUpload = 40, "envelope_upload",
        /// Listed the inbox.
        InboxRead = 41, "inbox_read",
        /// Fetched an envelope.
        EnvelopeFetch = 42, "envelope_fetch",
        /// Posted a delivery receipt.
        ReceiptPost = 43, "receipt_post",
        /// Read the delivery status of a sent envelope.
        StatusRead = 44, "status_read",
        /// The relay deleted an envelope's ciphertext (retention).
        EnvelopeDelete = 45, "envelope_delete",
        /// Read the access log.
        LogRead = 50, "log_read",
        /// Cosigned a checkpoint as a witness.
        LogCosign = 51, "log_cosign",
    }
);

stable_codes!(
    /// Why a request was allowed or refused. The text forms double as API error codes.
    Reason {
        /// Allowed.
        Ok = 0, "ok",
        /// The TLS client presented no certificate.
        NoClientCertificate = 1, "no_client_certificate",
        /// The certificate was not issued by the federation's CA.
        CertificateUnknownIssuer = 2, "certificate_unknown_issuer",
        /// The certificate is revoked.
        CertificateRevoked = 3, "certificate_revoked",
        /// The certificate has expired.
        CertificateExpired = 4, "certificate_expired",
        /// The certificate is not valid yet.
        CertificateNotYetValid = 5, "certificate_not_yet_valid",
        /// Any other certificate fault (bad signature, unreadable).
        CertificateInvalid = 6, "certificate_invalid",
        /// The certificate's principal is not registered at the relay.
        PrincipalUnknown = 7, "principal_unknown",
        /// The certificate's principal is registered but disabled.
        PrincipalDisabled = 8, "principal_disabled",
        /// The certificate lacks the federation identity (organizationIdentifier, serialNumber).
        CertificateIdentity = 9, "certificate_identity",
        /// No consent covers the exchange.
        NoConsent = 10, "no_consent",
        /// The consent's validity period has ended.
        ConsentExpired = 11, "consent_expired",
        /// The consent has been withdrawn.
        ConsentWithdrawn = 12, "consent_withdrawn",
        /// The caller's principal is not a party to the consent.
        NotAParty = 13, "not_a_party",
        /// A recipient is not a party to the consent.
        RecipientNotAParty = 14, "recipient_not_a_party",
        /// The consent does not cover this kind of information.
        KindNotCovered = 15, "kind_not_covered",
        /// The consent belongs to another case.
        ConsentOtherCase = 16, "consent_other_case",
        /// The consent is not valid yet.
        ConsentNotYetValid = 17, "consent_not_yet_valid",
        /// A block (*spärr*) removes the party.
        PartyBlocked = 18, "party_blocked",
        /// A block (*spärr*) removes the kind of information.
        KindBlocked = 19, "kind_blocked",
        /// A newer consent supersedes this one.
        ConsentSuperseded = 20, "consent_superseded",
        /// Consent rule: fewer than two parties.
        TooFewParties = 21, "too_few_parties",
        /// Consent rule: the recording principal is not among the parties.
        RecorderNotAParty = 22, "recorder_not_a_party",
        /// Consent rule: an adult's consent must be given by the individual or a legal representative.
        AdultGrantorMissing = 23, "adult_grantor_missing",
        /// Consent rule: every guardian with custody must consent for a child.
        GuardianMissing = 24, "guardian_missing",
        /// Consent rule: the child's own view must be recorded as heard.
        ChildViewNotHeard = 25, "child_view_not_heard",
        /// Consent rule: the end date is missing or not after the start.
        ValidityInvalid = 26, "validity_invalid",
        /// Consent rule: the consent runs longer than the configured maximum.
        ValidityTooLong = 27, "validity_too_long",
        /// Consent rule: no kind of information named (there is no blanket consent).
        NoKindsNamed = 28, "no_kinds_named",
        /// Consent rule: guardians given for an adult, or other roles that do not fit the subject.
        GrantorsInconsistent = 29, "grantors_inconsistent",
        /// The signature over a record (header, consent, attestation, receipt) does not verify.
        SignatureInvalid = 30, "signature_invalid",
        /// The envelope header names another sender than the TLS client.
        SenderMismatch = 31, "sender_mismatch",
        /// The id is taken by a different object.
        Conflict = 32, "conflict",
        /// The envelope is larger than the relay accepts.
        TooLarge = 33, "too_large",
        /// More recipients than the relay accepts.
        TooManyRecipients = 34, "too_many_recipients",
        /// The request is malformed.
        Malformed = 35, "malformed",
        /// No such object (or not visible to the caller).
        NotFound = 36, "not_found",
        /// The caller's principal is not a recipient of the envelope.
        NotARecipient = 37, "not_a_recipient",
        /// The case is closed to new documents.
        CaseClosed = 38, "case_closed",
        /// The caller may not do this (e.g. publish another principal's key).
        Forbidden = 39, "forbidden",
        /// The uploaded ciphertext does not match the signed header.
        CiphertextMismatch = 40, "ciphertext_mismatch",
        /// A recipient principal is not registered or is disabled.
        RecipientUnknown = 41, "recipient_unknown",
        /// The relay could not complete the request (storage unavailable, …).
        Unavailable = 42, "unavailable",
        /// The envelope's ciphertext has been deleted under the retention rules.
        Deleted = 43, "deleted",
        /// The request took too long.
        Timeout = 44, "timeout",
        /// A recipient key is not a current, attested key of its principal.
        KeyUnknown = 45, "key_unknown",
        /// The certificate is its own issuer (self-signed), not issued by the federation's CA.
        CertificateSelfSigned = 46, "certificate_self_signed",
        /// The certificate is not for TLS client authentication: its extended key usage lacks
        /// clientAuth, or its key usage lacks digitalSignature.
        CertificateWrongUsage = 47, "certificate_wrong_usage",
        /// The request body is not of the media type the route takes (`Content-Type`).
        UnsupportedMediaType = 48, "unsupported_media_type",
        /// The route does not take the request's method.
        MethodNotAllowed = 49, "method_not_allowed",
    }
);

impl Reason {
    /// Whether this reason means the request was allowed.
    pub fn is_ok(self) -> bool {
        self == Reason::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_round_trip() {
        for all in [
            Action::ALL.iter().map(|a| (a.code(), a.as_str())).collect::<Vec<_>>(),
            Reason::ALL.iter().map(|r| (r.code(), r.as_str())).collect::<Vec<_>>(),
        ] {
            for (i, (code, name)) in all.iter().enumerate() {
                assert!(all[..i].iter().all(|(c, n)| c != code && n != name), "{code} {name} repeated");
            }
        }
        for a in Action::ALL {
            assert_eq!(Action::from_code(a.code()), Some(*a));
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(*r));
        }
    }

    #[test]
    fn stored_numbers_never_change() {
        // A changed number would rewrite history in every relay's log: pin a few.
        assert_eq!(Action::EnvelopeUpload.code(), 40);
        assert_eq!(Action::EnvelopeFetch.code(), 42);
        assert_eq!(Reason::ConsentWithdrawn.code(), 12);
        assert_eq!(Reason::CertificateRevoked.code(), 3);
        assert_eq!(Reason::NoConsent.as_str(), "no_consent");
    }
}
