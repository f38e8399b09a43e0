//! iCalendar (RFC 5545) for meeting invitations: one `VEVENT` in Europe/Stockholm time with its
//! `VTIMEZONE`, as `METHOD:REQUEST` (new or changed, iTIP RFC 5546 §3.2.2) or `METHOD:CANCEL`
//! (§3.2.5). Only what the invitation is allowed to say: an opaque case reference, time, place and
//! contact.

use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, macros::format_description};

use super::tz;

/// iTIP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// A new or changed meeting.
    Request,
    /// A cancelled meeting.
    Cancel,
}

impl Method {
    /// As in `METHOD:` and in the `method=` parameter of the MIME type.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// One event, as it is to be sent.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    /// REQUEST or CANCEL.
    pub method: Method,
    /// Stable across updates and the cancellation.
    pub uid: &'a str,
    /// 0 first, one more for every change (RFC 5545 §3.8.7.4).
    pub sequence: u32,
    /// When the message was made.
    pub dtstamp: OffsetDateTime,
    /// Stockholm wall-clock start and end.
    pub start: PrimitiveDateTime,
    /// End.
    pub end: PrimitiveDateTime,
    /// `SUMMARY`.
    pub summary: &'a str,
    /// `LOCATION`.
    pub location: &'a str,
    /// `DESCRIPTION`.
    pub description: &'a str,
    /// A video link, as `URL`.
    pub url: Option<&'a str>,
    /// Organiser: display name and address.
    pub organizer: (&'a str, &'a str),
    /// Attendees' addresses.
    pub attendees: &'a [String],
}

/// TEXT escaping (RFC 5545 §3.3.11).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value, quoted when it must be (§3.2); DQUOTE itself cannot occur and is dropped.
fn param(s: &str) -> String {
    let clean: String = s.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    if clean.contains([':', ';', ',']) { format!("\"{clean}\"") } else { clean }
}

/// Content lines folded at 75 octets, never inside a UTF-8 character (§3.1).
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

fn local(t: PrimitiveDateTime) -> String {
    // Infallible for a four-digit year; an error would leave the field empty, which parsers refuse.
    t.format(format_description!("[year][month][day]T[hour][minute][second]")).unwrap_or_default()
}

fn utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!("{}Z", local(PrimitiveDateTime::new(t.date(), t.time())))
}

/// The `.ics` text, CRLF line ends.
pub fn render(e: &Event<'_>) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Samordna//Kallelse till SIP-möte//SV".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        format!("METHOD:{}", e.method.as_str()),
    ];
    let mut out = String::new();
    for l in &lines {
        fold(l, &mut out);
    }
    out.push_str(tz::VTIMEZONE);
    lines = vec![
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}", text(e.uid)),
        format!("SEQUENCE:{}", e.sequence),
        format!("DTSTAMP:{}", utc(e.dtstamp)),
        format!("DTSTART;TZID={}:{}", tz::TZID, local(e.start)),
        format!("DTEND;TZID={}:{}", tz::TZID, local(e.end)),
        format!("SUMMARY;LANGUAGE=sv:{}", text(e.summary)),
        format!("LOCATION;LANGUAGE=sv:{}", text(e.location)),
        format!("DESCRIPTION;LANGUAGE=sv:{}", text(e.description)),
    ];
    if let Some(url) = e.url {
        lines.push(format!("URL:{}", url.chars().filter(|c| !c.is_control()).collect::<String>()));
    }
    lines.push(format!("ORGANIZER;CN={}:mailto:{}", param(e.organizer.0), e.organizer.1));
    for a in e.attendees {
        lines.push(format!("ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{a}"));
    }
    match e.method {
        Method::Request => lines.push("STATUS:CONFIRMED".to_owned()),
        Method::Cancel => lines.push("STATUS:CANCELLED".to_owned()),
    }
    lines.push("TRANSP:OPAQUE".to_owned());
    lines.push("CLASS:PRIVATE".to_owned());
    lines.push("END:VEVENT".to_owned());
    lines.push("END:VCALENDAR".to_owned());
    for l in &lines {
        fold(l, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn escapes_folds_and_names_the_zone() {
        let attendees = vec!["a@example.se".to_owned()];
        let long = "Kommunhuset, rum 3; ingång B\nfråga i receptionen ".repeat(4);
        let ics = render(&Event {
            method: Method::Cancel,
            uid: "m-1@samordna",
            sequence: 2,
            dtstamp: datetime!(2026-11-23 10:00 UTC),
            start: datetime!(2027-03-29 13:00),
            end: datetime!(2027-03-29 14:30),
            summary: "SIP-möte",
            location: &long,
            description: "Ärende S-1",
            url: None,
            organizer: ("SIP, Linköping", "sip@linkoping.example"),
            attendees: &attendees,
        });
        assert!(ics.contains("METHOD:CANCEL\r\n") && ics.contains("STATUS:CANCELLED\r\n"));
        assert!(ics.contains("DTSTART;TZID=Europe/Stockholm:20270329T130000\r\n"));
        assert!(ics.contains("DTSTAMP:20261123T100000Z\r\n"));
        assert!(ics.contains("ORGANIZER;CN=\"SIP, Linköping\":mailto:sip@linkoping.example\r\n"));
        assert!(ics.contains("rum 3\\; ingång B\\nfråga"));
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{line:?}");
        }
        assert!(ics.ends_with("END:VCALENDAR\r\n") && !ics.contains("\n\n"));
    }
}
