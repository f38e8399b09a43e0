//! Byte sizes as people write them on the command line: `1MiB`, `100MiB`, `1GiB`, `512KiB`, `4096`.

use core::fmt;
use core::str::FromStr;

/// A positive number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(digits);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("`{s}` is not a size: write a whole number and a unit, like 100MiB"))?;
        // Binary units only: "MB" would leave the reader guessing between 10^6 and 2^20.
        let unit = unit.trim();
        let unit_bytes = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" => KIB,
            "mib" => MIB,
            "gib" => GIB,
            _ => return Err(format!("unknown unit `{unit}` in `{s}`: use B, KiB, MiB or GiB")),
        };
        match number.checked_mul(unit_bytes) {
            Some(0) => Err("the size must be at least one byte".into()),
            Some(bytes) => Ok(ByteSize(bytes)),
            None => Err(format!("`{s}` is too large")),
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        match b {
            _ if b >= GIB && b.is_multiple_of(GIB) => write!(f, "{} GiB", b / GIB),
            _ if b >= MIB && b.is_multiple_of(MIB) => write!(f, "{} MiB", b / MIB),
            _ if b >= KIB && b.is_multiple_of(KIB) => write!(f, "{} KiB", b / KIB),
            _ => write!(f, "{b} B"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_units() {
        assert_eq!("1MiB".parse::<ByteSize>(), Ok(ByteSize(MIB)));
        assert_eq!("100MiB".parse::<ByteSize>(), Ok(ByteSize(100 * MIB)));
        assert_eq!("1GiB".parse::<ByteSize>(), Ok(ByteSize(GIB)));
        assert_eq!("64kib".parse::<ByteSize>(), Ok(ByteSize(64 * KIB)));
        assert_eq!("4096".parse::<ByteSize>(), Ok(ByteSize(4096)));
        assert_eq!(ByteSize(100 * MIB).to_string(), "100 MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000 B");
    }

    #[test]
    fn refuses_the_rest() {
        for bad in ["", "MiB", "0MiB", "1MB", "1.5GiB", "-1MiB", "99999999999999GiB"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
    }
}
