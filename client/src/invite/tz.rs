//! Europe/Stockholm without a time-zone database: the EU rule (Directive 2000/84/EC), in force
//! for Sweden since 1996. Summer time (CEST, UTC+2) begins at 01:00 UTC on the last Sunday of
//! March and ends at 01:00 UTC on the last Sunday of October; otherwise CET, UTC+1.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, UtcOffset, macros::time};

/// The IANA name, as `TZID`.
pub const TZID: &str = "Europe/Stockholm";

/// CET, UTC+1.
pub const CET: UtcOffset = match UtcOffset::from_hms(1, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("UTC+1 is a valid offset"),
};
/// CEST, UTC+2.
pub const CEST: UtcOffset = match UtcOffset::from_hms(2, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("UTC+2 is a valid offset"),
};

/// The `VTIMEZONE` component for [`TZID`] (RFC 5545 §3.6.5), the same rule as this module's.
pub const VTIMEZONE: &str = "BEGIN:VTIMEZONE\r\n\
TZID:Europe/Stockholm\r\n\
BEGIN:DAYLIGHT\r\n\
TZOFFSETFROM:+0100\r\n\
TZOFFSETTO:+0200\r\n\
TZNAME:CEST\r\n\
DTSTART:19700329T020000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n\
END:DAYLIGHT\r\n\
BEGIN:STANDARD\r\n\
TZOFFSETFROM:+0200\r\n\
TZOFFSETTO:+0100\r\n\
TZNAME:CET\r\n\
DTSTART:19701025T030000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n\
END:STANDARD\r\n\
END:VTIMEZONE\r\n";

/// The last Sunday of `month` in `year`.
pub fn last_sunday(year: i32, month: Month) -> Date {
    let days = time::util::days_in_month(month, year);
    // Day `days` exists in every month, so this cannot fail; the fallback is never taken.
    let last = Date::from_calendar_date(year, month, days).unwrap_or(Date::MIN);
    let back = last.weekday().number_days_from_sunday();
    last - time::Duration::days(i64::from(back))
}

/// When summer time begins and ends in `year`, as instants.
fn summer(year: i32) -> (OffsetDateTime, OffsetDateTime) {
    let at_one_utc = |d: Date| PrimitiveDateTime::new(d, time!(1:00)).assume_utc();
    (at_one_utc(last_sunday(year, Month::March)), at_one_utc(last_sunday(year, Month::October)))
}

/// The offset in force in Stockholm at instant `t`.
pub fn offset_at(t: OffsetDateTime) -> UtcOffset {
    let utc = t.to_offset(UtcOffset::UTC);
    let (begin, end) = summer(utc.year());
    if utc >= begin && utc < end { CEST } else { CET }
}

/// Stockholm's wall-clock time at instant `t`.
pub fn to_local(t: OffsetDateTime) -> PrimitiveDateTime {
    let l = t.to_offset(offset_at(t));
    PrimitiveDateTime::new(l.date(), l.time())
}

/// A wall-clock time that Stockholm's clocks skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0} does not exist in Stockholm: the clocks go forward from 02:00 to 03:00 that night; choose another time"
)]
pub struct Skipped(pub PrimitiveDateTime);

/// The instant of Stockholm wall-clock time `local`. In October's repeated hour, the first
/// (summer-time) instant, as RFC 5545 §3.3.5 asks; March's skipped hour is refused.
pub fn from_local(local: PrimitiveDateTime) -> Result<OffsetDateTime, Skipped> {
    [CEST, CET]
        .into_iter()
        .map(|o| local.assume_offset(o))
        .find(|t| offset_at(*t) == t.offset())
        .ok_or(Skipped(local))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn last_sundays_of_march_and_october() {
        for (y, march, october) in [
            (2024, date!(2024 - 03 - 31), date!(2024 - 10 - 27)),
            (2025, date!(2025 - 03 - 30), date!(2025 - 10 - 26)),
            (2026, date!(2026 - 03 - 29), date!(2026 - 10 - 25)),
            (2027, date!(2027 - 03 - 28), date!(2027 - 10 - 31)),
            (2028, date!(2028 - 03 - 26), date!(2028 - 10 - 29)),
        ] {
            assert_eq!(last_sunday(y, Month::March), march);
            assert_eq!(last_sunday(y, Month::October), october);
            assert!(march.weekday() == time::Weekday::Sunday && october.weekday() == time::Weekday::Sunday);
        }
    }

    #[test]
    fn offsets_around_the_changes() {
        assert_eq!(offset_at(datetime!(2026-12-03 12:00 UTC)), CET);
        assert_eq!(offset_at(datetime!(2027-03-28 00:59:59 UTC)), CET);
        assert_eq!(offset_at(datetime!(2027-03-28 01:00 UTC)), CEST);
        assert_eq!(offset_at(datetime!(2027-10-31 00:59:59 UTC)), CEST);
        assert_eq!(offset_at(datetime!(2027-10-31 01:00 UTC)), CET);
        assert_eq!(offset_at(datetime!(2027-07-01 12:00 UTC)), CEST);
    }

    #[test]
    fn wall_clock_to_instant_and_back() {
        assert_eq!(from_local(datetime!(2026-12-03 13:00)).unwrap(), datetime!(2026-12-03 12:00 UTC));
        assert_eq!(from_local(datetime!(2027-03-29 13:00)).unwrap(), datetime!(2027-03-29 11:00 UTC));
        assert_eq!(to_local(datetime!(2027-03-29 11:00 UTC)), datetime!(2027-03-29 13:00));
        // March: 02:30 does not exist.
        assert_eq!(from_local(datetime!(2027-03-28 02:30)), Err(Skipped(datetime!(2027-03-28 02:30))));
        assert_eq!(from_local(datetime!(2027-03-28 03:00)).unwrap(), datetime!(2027-03-28 01:00 UTC));
        // October: 02:30 happens twice; the first is meant.
        assert_eq!(from_local(datetime!(2027-10-31 02:30)).unwrap(), datetime!(2027-10-31 00:30 UTC));
        // A meeting across the change lasts its real length: 01:30 + 2 h ends at 02:30 CET.
        let start = from_local(datetime!(2027-10-31 01:30)).unwrap();
        assert_eq!(to_local(start + time::Duration::hours(2)), datetime!(2027-10-31 02:30));
    }
}
