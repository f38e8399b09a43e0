//! Reading what people type: dates, and the media type of a file to send.

use std::path::Path;

use time::{Date, OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};

/// Parses `2027-05-01` (00:00 UTC that day) or an RFC 3339 time (`2027-05-01T12:00:00+02:00`),
/// returned in UTC.
///
/// A bare date is the *start* of that day in UTC, as the relay and the consent rules count: a
/// consent "until 2027-05-01" ends when that day begins.
pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    if let Ok(d) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return Ok(d.midnight().assume_utc());
    }
    OffsetDateTime::parse(s, &Rfc3339).map(|t| t.to_offset(time::UtcOffset::UTC)).map_err(|_| {
        format!("`{s}` is not a date; write it as 2027-05-01, or as a time such as 2027-05-01T12:00:00Z")
    })
}

/// The media type for a file name, from its extension; `application/octet-stream` when unknown.
pub fn media_type_for(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("xml") => "application/xml",
        Some("ics") => "text/calendar",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("odt") => "application/vnd.oasis.opendocument.text",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// A time for people: `2026-11-23 14:05 UTC`.
pub fn human_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
        .unwrap_or_else(|_| samordna_core::encoding::rfc3339::format(t))
}

/// A date for people: `2027-05-01`.
pub fn human_date(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).date().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_and_times() {
        assert_eq!(parse_time("2027-05-01").unwrap(), datetime!(2027-05-01 0:00 UTC));
        assert_eq!(parse_time(" 2027-05-01 ").unwrap(), datetime!(2027-05-01 0:00 UTC));
        assert_eq!(parse_time("2027-05-01T12:30:00Z").unwrap(), datetime!(2027-05-01 12:30 UTC));
        let t = parse_time("2027-05-01T12:30:00+02:00").unwrap();
        assert_eq!(t, datetime!(2027-05-01 10:30 UTC));
        assert_eq!(t.offset(), time::UtcOffset::UTC);
        for bad in ["2027-13-01", "2027-02-30", "01/05/2027", "tomorrow", "", "2027-05-01 12:00"] {
            let e = parse_time(bad).unwrap_err();
            assert!(e.contains("2027-05-01"), "{bad}: {e}");
        }
    }

    #[test]
    fn media_types_from_extensions() {
        assert_eq!(media_type_for(Path::new("sip-plan.json")), "application/json");
        assert_eq!(media_type_for(Path::new("/tmp/Utlåtande.PDF")), "application/pdf");
        assert_eq!(media_type_for(Path::new("notes.txt")), "text/plain");
        assert_eq!(media_type_for(Path::new("kallelse.ics")), "text/calendar");
        assert_eq!(media_type_for(Path::new("archive.tar.gz")), "application/octet-stream");
        assert_eq!(media_type_for(Path::new("README")), "application/octet-stream");
    }

    #[test]
    fn times_for_people() {
        assert_eq!(human_time(datetime!(2026-11-23 15:05 +01:00)), "2026-11-23 14:05 UTC");
        assert_eq!(human_date(datetime!(2027-05-01 0:00 UTC)), "2027-05-01");
    }
}
