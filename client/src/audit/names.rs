//! Actions and reasons in Swedish, for the person's log extract. The codes stay the stable ones of
//! `samordna_core::audit`; these are only the words.

use samordna_core::{
    ContentKind,
    audit::{Action, Reason},
};

/// What an action did, in Swedish, for a person reading their log extract. `marker` is the
/// entry's object marker (an upload's content kind, a withdrawal's reason).
pub fn action_sv(action: Action, marker: Option<&str>) -> String {
    let kind = marker.and_then(|m| m.parse::<ContentKind>().ok()).map(ContentKind::swedish);
    let s = match action {
        Action::Authenticate => "Försökte logga in",
        Action::DirectoryRead => "Läste katalogen över organisationer",
        Action::KeyPublish => "Publicerade en krypteringsnyckel",
        Action::KeyRead => "Hämtade krypteringsnycklar",
        Action::WitnessKeyPublish => "Publicerade en vittnesnyckel",
        Action::CaseOpen => "Öppnade SIP-ärendet",
        Action::CaseRead => "Läste ärendet",
        Action::CaseClose => "Avslutade ärendet",
        Action::ConsentRecord => "Registrerade samtycke",
        Action::ConsentRead => "Läste samtycket",
        Action::ConsentWithdraw => "Registrerade att samtycket återkallats",
        Action::ConsentBlock => "Spärrade uppgifter (spärr)",
        Action::EnvelopeUpload => {
            return match kind {
                Some(k) => format!("Skickade handling: {k}"),
                None => "Skickade en handling".into(),
            };
        }
        Action::InboxRead => "Listade inkomna handlingar",
        Action::EnvelopeFetch => "Hämtade och läste en handling",
        Action::ReceiptPost => "Kvitterade mottagen handling",
        Action::StatusRead => "Läste leveransstatus för en handling",
        Action::EnvelopeDelete => "Handlingen gallrades (raderades)",
        Action::LogRead => "Granskade åtkomstloggen",
        Action::LogCosign => "Bestyrkte åtkomstloggen",
        _ => return action.as_str().to_owned(),
    };
    s.to_owned()
}

/// Why a request was refused, in Swedish (for `Reason::Ok`: "Tillåten").
pub fn reason_sv(reason: Reason) -> &'static str {
    match reason {
        Reason::Ok => "Tillåten",
        Reason::NoClientCertificate => "inget certifikat",
        Reason::CertificateUnknownIssuer => "certifikatet är inte utfärdat inom federationen",
        Reason::CertificateRevoked => "certifikatet är spärrat",
        Reason::CertificateExpired => "certifikatet har gått ut",
        Reason::CertificateNotYetValid => "certifikatet gäller inte ännu",
        Reason::CertificateInvalid => "certifikatet är ogiltigt",
        Reason::PrincipalUnknown => "organisationen är inte ansluten",
        Reason::PrincipalDisabled => "organisationens anslutning är avstängd",
        Reason::CertificateIdentity => "certifikatet saknar organisation eller HSA-id",
        Reason::NoConsent => "samtycke saknas",
        Reason::ConsentExpired => "samtycket har upphört",
        Reason::ConsentWithdrawn => "samtycket är återkallat",
        Reason::NotAParty => "organisationen omfattas inte av samtycket",
        Reason::RecipientNotAParty => "mottagaren omfattas inte av samtycket",
        Reason::KindNotCovered => "samtycket omfattar inte den sortens uppgifter",
        Reason::ConsentOtherCase => "samtycket gäller ett annat ärende",
        Reason::ConsentNotYetValid => "samtycket gäller inte ännu",
        Reason::PartyBlocked => "organisationen är spärrad",
        Reason::KindBlocked => "uppgifterna är spärrade",
        Reason::ConsentSuperseded => "samtycket har ersatts av ett nytt",
        Reason::TooFewParties
        | Reason::RecorderNotAParty
        | Reason::AdultGrantorMissing
        | Reason::GuardianMissing
        | Reason::ChildViewNotHeard
        | Reason::ValidityInvalid
        | Reason::ValidityTooLong
        | Reason::NoKindsNamed
        | Reason::GrantorsInconsistent => "samtycket uppfyllde inte reglerna",
        Reason::SignatureInvalid => "underskriften kunde inte kontrolleras",
        Reason::SenderMismatch => "avsändaren stämde inte",
        Reason::Conflict => "krockade med en annan registrering",
        Reason::TooLarge => "för stor",
        Reason::TooManyRecipients => "för många mottagare",
        Reason::Malformed => "felaktig begäran",
        Reason::NotFound => "fanns inte eller fick inte visas",
        Reason::NotARecipient => "organisationen är inte mottagare",
        Reason::CaseClosed => "ärendet är avslutat",
        Reason::Forbidden => "behörighet saknas",
        Reason::CiphertextMismatch => "handlingen var skadad",
        Reason::RecipientUnknown => "mottagaren är inte ansluten",
        Reason::Unavailable => "tjänsten var inte tillgänglig",
        Reason::Deleted => "handlingen var gallrad",
        Reason::Timeout => "tog för lång tid",
        Reason::KeyUnknown => "okänd krypteringsnyckel",
        Reason::CertificateSelfSigned => "certifikatet är egenutfärdat",
        Reason::CertificateWrongUsage => "certifikatet får inte användas för inloggning",
        Reason::UnsupportedMediaType => "fel innehållstyp",
        Reason::MethodNotAllowed => "fel metod för adressen",
        _ => "nekad",
    }
}

/// "Tillåten", or "Nekad: <why>".
pub fn outcome_sv(reason: Reason) -> String {
    if reason.is_ok() { reason_sv(reason).to_owned() } else { format!("Nekad: {}", reason_sv(reason)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_swedish_words() {
        for a in Action::ALL {
            let s = action_sv(*a, None);
            assert!(s.chars().next().is_some_and(char::is_uppercase), "{a}: {s}");
        }
        for r in Reason::ALL {
            assert_ne!(reason_sv(*r), "nekad", "{r} has no words of its own");
        }
        assert_eq!(action_sv(Action::EnvelopeUpload, Some("meeting")), "Skickade handling: kallelse");
        assert_eq!(outcome_sv(Reason::ConsentWithdrawn), "Nekad: samtycket är återkallat");
        assert_eq!(outcome_sv(Reason::Ok), "Tillåten");
    }
}
