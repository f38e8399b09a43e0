//! Swedish personal identity numbers (*personnummer*, SFS 1991:481 and Skatteverket's SKV 704) and
//! coordination numbers (*samordningsnummer*, SKV 707), parsed once and trusted after.
//!
//! `docs/spec/sip-plan-v1.md`, "Personnummer":
//!
//! > A plan stores the number in its canonical form `YYYYMMDD-NNNN`. People may type it as
//! > `YYYYMMDD-NNNN`, `YYYYMMDDNNNN`, `YYMMDD-NNNN` or `YYMMDD+NNNN`; the short forms leave out the
//! > century, which is the latest one that puts the birth date on or before a reference date (`+`:
//! > a hundred years earlier, for people who are 100 or older). The date must be a date in the
//! > calendar; a samordningsnummer adds 60 to the day. The last digit is the Luhn check digit over
//! > the ten digits `YYMMDDNNN`.
//!
//! The number is personal data. Parse errors never repeat the input, there is no `Display`
//! (writing the number out is a deliberate [`Personnummer::as_str`]), and `Debug`, which ends up in
//! logs, hides the last four digits: `Personnummer(19121212-****)`.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month};

use crate::id::{IdError, luhn_ok};

/// Why a personnummer was refused. Names the field and says what is wrong, never repeats the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersonnummerError {
    /// Not one of the four accepted forms.
    #[error("personnummer: {}", self.english())]
    Format,
    /// A year of birth before 1800 or after 2099 (a 12-digit form whose century is not 18, 19 or 20).
    #[error("personnummer: {}", self.english())]
    Century,
    /// The date of birth is not a date in the calendar.
    #[error("personnummer: {}", self.english())]
    Date,
    /// The last digit is not the Luhn check digit of the others.
    #[error("personnummer: {}", self.english())]
    CheckDigit,
    /// The date of birth is after the reference date.
    #[error("personnummer: {}", self.english())]
    Future,
}

impl PersonnummerError {
    /// The field, as a user would call it.
    pub const FIELD: &'static str = "personnummer";

    /// What is wrong, in English.
    pub fn english(self) -> &'static str {
        match self {
            PersonnummerError::Format => {
                "expected 12 digits as YYYYMMDD-NNNN (or YYYYMMDDNNNN), or 10 as YYMMDD-NNNN or YYMMDD+NNNN"
            }
            PersonnummerError::Century => "the year of birth must be between 1800 and 2099",
            PersonnummerError::Date => {
                "the date of birth is not a date in the calendar (a samordningsnummer adds 60 to the day)"
            }
            PersonnummerError::CheckDigit => {
                "the check digit (the last digit) does not match the others; look for a typing error"
            }
            PersonnummerError::Future => "the date of birth is in the future",
        }
    }

    /// What is wrong, in Swedish.
    pub fn swedish(self) -> &'static str {
        match self {
            PersonnummerError::Format => {
                "ska vara 12 siffror som ÅÅÅÅMMDD-NNNN (eller ÅÅÅÅMMDDNNNN), eller 10 som ÅÅMMDD-NNNN eller ÅÅMMDD+NNNN"
            }
            PersonnummerError::Century => "födelseåret ska ligga mellan 1800 och 2099",
            PersonnummerError::Date => {
                "födelsedatumet är inget datum i kalendern (i ett samordningsnummer är dagen ökad med 60)"
            }
            PersonnummerError::CheckDigit => {
                "kontrollsiffran (den sista siffran) stämmer inte med de andra; kontrollera om något är felskrivet"
            }
            PersonnummerError::Future => "födelsedatumet ligger i framtiden",
        }
    }
}

impl From<PersonnummerError> for IdError {
    fn from(e: PersonnummerError) -> Self {
        IdError { field: PersonnummerError::FIELD, expected: e.english() }
    }
}

/// A personnummer or samordningsnummer, well formed by construction.
///
/// Held in its canonical form `YYYYMMDD-NNNN`; for a samordningsnummer the day is as written (61–91).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Personnummer {
    canonical: String,
    birth_date: Date,
    samordningsnummer: bool,
}

impl Personnummer {
    /// Parses any of the four forms people write. `reference` decides the century of the 10-digit
    /// forms, and no birth date may lie after it. Core has no clock: the caller passes today.
    pub fn parse(s: &str, reference: Date) -> Result<Self, PersonnummerError> {
        let b = s.as_bytes();
        let all_digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
        let (century, yymmdd, serial, plus) = match b.len() {
            13 if b[8] == b'-' && all_digits(&b[..8]) && all_digits(&b[9..]) => {
                (Some(&b[..2]), &b[2..8], &b[9..], false)
            }
            12 if all_digits(b) => (Some(&b[..2]), &b[2..8], &b[8..], false),
            11 if matches!(b[6], b'-' | b'+') && all_digits(&b[..6]) && all_digits(&b[7..]) => {
                (None, &b[..6], &b[7..], b[6] == b'+')
            }
            _ => return Err(PersonnummerError::Format),
        };
        let two = |d: &[u8]| i32::from(d[0] - b'0') * 10 + i32::from(d[1] - b'0');
        let (yy, month, day) = (two(&yymmdd[..2]), two(&yymmdd[2..4]), two(&yymmdd[4..6]));
        let year = match century {
            Some(c) => two(c) * 100 + yy,
            None => {
                // The latest year ending in `yy` that puts the birthday on or before the reference
                // date; `+` (100 or older) means a century earlier still.
                let ref_year = reference.year();
                let mut year = ref_year - (ref_year - yy).rem_euclid(100);
                let ref_md = (i32::from(u8::from(reference.month())), i32::from(reference.day()));
                if year == ref_year && (month, day % 60) > ref_md {
                    year -= 100;
                }
                if plus {
                    year -= 100;
                }
                year
            }
        };
        if !(1800..=2099).contains(&year) {
            return Err(PersonnummerError::Century);
        }
        let (birth_date, samordningsnummer) = birth_date(year, month, day)?;
        let ten: String = yymmdd.iter().chain(serial).map(|&c| char::from(c)).collect();
        if !luhn_ok(&ten) {
            return Err(PersonnummerError::CheckDigit);
        }
        if birth_date > reference {
            return Err(PersonnummerError::Future);
        }
        let canonical = format!("{year:04}{}-{}", &ten[2..6], &ten[6..]);
        Ok(Personnummer { canonical, birth_date, samordningsnummer })
    }

    /// Parses the canonical form `YYYYMMDD-NNNN` only: what a document stores. Needs no reference
    /// date (the century is written), so it cannot refuse a birth date in the future; whoever
    /// holds a date checks that (as [`crate::plan::validate`] does).
    pub fn parse_canonical(s: &str) -> Result<Self, PersonnummerError> {
        let b = s.as_bytes();
        if b.len() != 13 || b[8] != b'-' {
            return Err(PersonnummerError::Format);
        }
        // The latest date there can be: no reference is needed for the century.
        Self::parse(s, Date::MAX)
    }

    /// The canonical form, `YYYYMMDD-NNNN`. This is the number in clear: write it only where the
    /// person's number belongs (the plan document itself).
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The canonical form with the last four digits hidden, `YYYYMMDD-****`, for logs and messages.
    pub fn masked(&self) -> String {
        format!("{}-****", &self.canonical[..8])
    }

    /// True for a samordningsnummer (day of birth plus 60), false for a personnummer.
    pub fn is_samordningsnummer(&self) -> bool {
        self.samordningsnummer
    }

    /// The date of birth (for a samordningsnummer, with the 60 taken off the day).
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// Age in whole years on `date`; `None` if `date` is before the birth date. Someone born on
    /// 29 February turns a year older on 1 March in years without that day.
    pub fn age_on(&self, date: Date) -> Option<u32> {
        if date < self.birth_date {
            return None;
        }
        let b = self.birth_date;
        let mut years = date.year() - b.year();
        if (u8::from(date.month()), date.day()) < (u8::from(b.month()), b.day()) {
            years -= 1;
        }
        u32::try_from(years).ok()
    }

    /// Under 18 on `date`: a child, whose guardians act for them.
    pub fn is_child_on(&self, date: Date) -> bool {
        self.age_on(date).is_none_or(|age| age < 18)
    }
}

/// The date of birth from the written year, month and day; day 61–91 marks a samordningsnummer.
fn birth_date(year: i32, month: i32, day: i32) -> Result<(Date, bool), PersonnummerError> {
    let (day, samordningsnummer) = if day > 60 { (day - 60, true) } else { (day, false) };
    let month =
        u8::try_from(month).ok().and_then(|m| Month::try_from(m).ok()).ok_or(PersonnummerError::Date)?;
    let day = u8::try_from(day).map_err(|_| PersonnummerError::Date)?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| PersonnummerError::Date)?;
    Ok((date, samordningsnummer))
}

impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Personnummer({})", self.masked())
    }
}

impl Serialize for Personnummer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.canonical)
    }
}

impl<'de> Deserialize<'de> for Personnummer {
    /// Documents hold the canonical form only.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse_canonical(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 11 - 23);

    fn ok(s: &str) -> Personnummer {
        Personnummer::parse(s, TODAY).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> PersonnummerError {
        Personnummer::parse(s, TODAY).unwrap_err()
    }

    #[test]
    fn the_four_forms_give_one_canonical_number() {
        for s in ["19121212-1212", "191212121212", "121212+1212"] {
            let p = ok(s);
            assert_eq!(p.as_str(), "19121212-1212", "{s}");
            assert_eq!(p.birth_date(), date!(1912 - 12 - 12));
            assert!(!p.is_samordningsnummer());
        }
        // Without the `+`, 12 is the latest year ending in 12: 2012.
        assert_eq!(ok("121212-1212").as_str(), "20121212-1212");
        assert_eq!(Personnummer::parse_canonical("19121212-1212").unwrap(), ok("191212121212"));
    }

    #[test]
    fn the_century_of_short_forms_follows_the_reference_date() {
        // Luhn digits computed for each: 991231-1231, 200101-2349, 050615-9870.
        assert_eq!(ok("991231-1231").as_str(), "19991231-1231");
        assert_eq!(ok("991231+1231").as_str(), "18991231-1231");
        assert_eq!(ok("200101-2349").as_str(), "20200101-2349");
        assert_eq!(ok("200101+2349").as_str(), "19200101-2349");
        // Born on a later day of the reference year's last digits: the century before.
        // Born "26-11-24", read on 2026-11-23: not tomorrow, so a hundred years earlier.
        assert_eq!(ok("261124-1239").as_str(), "19261124-1239");
        assert_eq!(ok("261123-1230").as_str(), "20261123-1230");
        let may = date!(2026 - 05 - 01);
        assert_eq!(Personnummer::parse("050615-9870", may).unwrap().as_str(), "20050615-9870");
        assert_eq!(
            Personnummer::parse("050615-9870", date!(2005 - 06 - 14)).unwrap().as_str(),
            "19050615-9870"
        );
        assert_eq!(
            Personnummer::parse("050615-9870", date!(2005 - 06 - 15)).unwrap().as_str(),
            "20050615-9870"
        );
        // A 12-digit form born after the reference date is refused.
        assert_eq!(
            Personnummer::parse("20050615-9870", date!(2005 - 06 - 14)).unwrap_err(),
            PersonnummerError::Future
        );
    }

    #[test]
    fn the_check_digit_is_luhn_over_ten_digits() {
        assert_eq!(err("19121212-1213"), PersonnummerError::CheckDigit);
        assert_eq!(err("121212-1211"), PersonnummerError::CheckDigit);
        // The century is not part of the check: 20121212-1212 has the same ten digits.
        assert_eq!(Personnummer::parse("20121212-1212", TODAY).unwrap().as_str(), "20121212-1212");
    }

    #[test]
    fn impossible_dates_are_refused() {
        // 19900230-1233 has a correct check digit, but February has no 30th.
        assert_eq!(err("19900230-1233"), PersonnummerError::Date);
        assert_eq!(err("19001301-0000"), PersonnummerError::Date);
        assert_eq!(err("19000000-0000"), PersonnummerError::Date);
        // 29 February: 2000 was a leap year, 1900 was not (same ten digits, same check digit).
        assert_eq!(ok("20000229-1235").birth_date(), date!(2000 - 02 - 29));
        assert_eq!(err("19000229-1235"), PersonnummerError::Date);
    }

    #[test]
    fn samordningsnummer_add_sixty_to_the_day() {
        let s = ok("19121272-1219");
        assert!(s.is_samordningsnummer());
        assert_eq!(s.birth_date(), date!(1912 - 12 - 12));
        assert_eq!(s.as_str(), "19121272-1219");
        assert_eq!(ok("121272+1219"), s);
        // Day 60 + 32 does not exist; day 60 + 0 neither.
        assert_eq!(err("19121292-1212"), PersonnummerError::Date);
        assert_eq!(err("19121260-1214"), PersonnummerError::Date);
    }

    #[test]
    fn malformed_input_is_refused_without_echo() {
        for bad in [
            "",
            "1212121212",    // 10 digits without a separator: is it - or +?
            "19121212+1212", // + belongs to the short form
            "1912121-21212",
            "19121212 1212",
            "١٩١٢١٢١٢-١٢١٢", // not ASCII digits
            "19121212-121",
            "19121212-12123",
            "S-1912121212",
        ] {
            assert_eq!(err(bad), PersonnummerError::Format, "{bad}");
        }
        assert_eq!(err("17121212-1212"), PersonnummerError::Century);
        assert_eq!(err("21121212-1212"), PersonnummerError::Century);
        assert_eq!(Personnummer::parse_canonical("191212121212").unwrap_err(), PersonnummerError::Format);
        assert_eq!(Personnummer::parse_canonical("121212+1212").unwrap_err(), PersonnummerError::Format);
        for e in [err("19121212-1213"), err("19900230-1233"), err("1212121212")] {
            let text = e.to_string();
            assert!(text.starts_with("personnummer: ") && !text.contains("1212"), "{text}");
            assert!(!e.swedish().is_empty());
            assert_eq!(IdError::from(e).field, "personnummer");
        }
    }

    #[test]
    fn debug_hides_the_last_four_digits() {
        let p = ok("19121212-1212");
        assert_eq!(format!("{p:?}"), "Personnummer(19121212-****)");
        assert_eq!(format!("{:?}", Some(&p)), "Some(Personnummer(19121212-****))");
        assert_eq!(p.masked(), "19121212-****");
    }

    #[test]
    fn ages_and_children() {
        // 18 tomorrow: still a child today.
        let almost = ok("20081124-1231");
        assert_eq!(almost.age_on(TODAY), Some(17));
        assert!(almost.is_child_on(TODAY));
        assert!(!almost.is_child_on(date!(2026 - 11 - 24)));
        let tolvan = ok("19121212-1212");
        assert_eq!(tolvan.age_on(TODAY), Some(113));
        assert!(!tolvan.is_child_on(TODAY));
        let child = ok("20121212-1212");
        assert_eq!(child.age_on(TODAY), Some(13));
        assert!(child.is_child_on(TODAY));
        assert_eq!(child.age_on(date!(2030 - 12 - 11)), Some(17));
        assert!(child.is_child_on(date!(2030 - 12 - 11)));
        assert!(!child.is_child_on(date!(2030 - 12 - 12)), "18 on the birthday");
        assert_eq!(child.age_on(date!(2012 - 12 - 11)), None);
        let leap = ok("20000229-1235");
        assert_eq!(leap.age_on(date!(2018 - 02 - 28)), Some(17));
        assert_eq!(leap.age_on(date!(2018 - 03 - 01)), Some(18));
    }

    #[test]
    fn serde_uses_the_canonical_form_only() {
        let p: Personnummer = serde_json::from_str("\"19121212-1212\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"19121212-1212\"");
        let e = serde_json::from_str::<Personnummer>("\"121212-1212\"").unwrap_err().to_string();
        assert!(e.contains("personnummer") && !e.contains("121212-1212"), "{e}");
    }
}
