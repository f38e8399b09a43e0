//! Kinds of information that a consent covers and an envelope carries.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::IdError;

/// A kind of information. A consent names the kinds it covers (there is no blanket consent);
/// an envelope names the one kind it carries, and the relay lets it through only under a consent
/// that covers that kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    /// The SIP plan itself (*SIP-plan*).
    Plan,
    /// A meeting invitation and its updates (*kallelse*).
    Meeting,
    /// An assessment or statement (*bedömning, utlåtande*).
    Assessment,
    /// Any other attached document (*bilaga*).
    Attachment,
    /// A free-text message between staff (*meddelande*).
    Message,
    /// The consent document (names, how consent was given, a scanned form).
    Consent,
}

impl ContentKind {
    /// Every kind, in a stable order.
    pub const ALL: [ContentKind; 6] = [
        ContentKind::Plan,
        ContentKind::Meeting,
        ContentKind::Assessment,
        ContentKind::Attachment,
        ContentKind::Message,
        ContentKind::Consent,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Plan => "plan",
            ContentKind::Meeting => "meeting",
            ContentKind::Assessment => "assessment",
            ContentKind::Attachment => "attachment",
            ContentKind::Message => "message",
            ContentKind::Consent => "consent",
        }
    }

    /// The Swedish name, for people.
    pub fn swedish(self) -> &'static str {
        match self {
            ContentKind::Plan => "SIP-plan",
            ContentKind::Meeting => "kallelse",
            ContentKind::Assessment => "bedömning",
            ContentKind::Attachment => "bilaga",
            ContentKind::Message => "meddelande",
            ContentKind::Consent => "samtyckeshandling",
        }
    }
}

impl fmt::Display for ContentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentKind {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        ContentKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or(IdError {
            field: "content kind",
            expected: "expected one of plan, meeting, assessment, attachment, message, consent",
        })
    }
}
