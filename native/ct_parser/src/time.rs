//! The CTP01 time formats: normal, iso, unix seconds and epoch milliseconds.

use crate::item::TimeKind;

const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// Parses any time field a CT01 line may carry, telling which kind it was.
pub(crate) fn parse_time(s: &[u8]) -> Option<(TimeKind, i64)> {
    // A dash at index 4 only ever starts an iso date; the other forms have none.
    if s.len() >= 10 && s[4] == b'-' {
        return parse_iso(s).map(|us| (TimeKind::Local, us));
    }
    if s.contains(&b':') {
        return parse_clock(s).map(|us| (TimeKind::TimeOfDay, us));
    }
    parse_epoch(s).map(|us| (TimeKind::Unix, us))
}

/// `HH:MM:SS[.f]` as µs since midnight.
fn parse_clock(s: &[u8]) -> Option<i64> {
    if s.len() < 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    let h = two_digits(&s[0..2])?;
    let m = two_digits(&s[3..5])?;
    let sec = two_digits(&s[6..8])?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let frac = fraction(&s[8..])?;
    Some(((h * 60 + m) * 60 + sec) * US_PER_SEC + frac)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f]` as µs since 1970-01-01T00:00 of the same naive clock.
fn parse_iso(s: &[u8]) -> Option<i64> {
    if s.len() < 11 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b'T' | b' ') {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = two_digits(&s[5..7])?;
    let day = two_digits(&s[8..10])?;
    // Year 0 is outside what Python's datetime (and the pure-Python twin) accepts.
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let clock = parse_clock(&s[11..])?;
    Some(days_from_civil(year, month, day) * US_PER_DAY + clock)
}

/// Epoch time: `1728134581[.f]` in seconds, or 12+ bare digits in milliseconds.
fn parse_epoch(s: &[u8]) -> Option<i64> {
    let (int_part, frac_part) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], Some(&s[dot..])),
        None => (s, None),
    };
    if int_part.is_empty() {
        return None;
    }
    match frac_part {
        // Seconds stay below 12 digits until the year 5138, which is what lets a bare
        // 12+ digit value mean milliseconds. 15 digits keeps µs inside i64.
        None if int_part.len() >= 12 => {
            if int_part.len() > 15 {
                return None;
            }
            Some(digits(int_part)? * 1_000)
        }
        _ => {
            if int_part.len() > 11 {
                return None;
            }
            let frac = match frac_part {
                Some(f) => fraction(f)?,
                None => 0,
            };
            Some(digits(int_part)? * US_PER_SEC + frac)
        }
    }
}

/// An optional `.` followed by 1–6 digits, scaled to µs.
fn fraction(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    if s[0] != b'.' || s.len() < 2 || s.len() > 7 {
        return None;
    }
    let digits_part = &s[1..];
    let value = digits(digits_part)?;
    Some(value * 10_i64.pow(6 - digits_part.len() as u32))
}

fn two_digits(s: &[u8]) -> Option<i64> {
    match s {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some(i64::from(a - b'0') * 10 + i64::from(b - b'0')),
        _ => None,
    }
}

/// All-ASCII-digit, at most 15 digits (callers bound the length), as a number.
fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    Some(value)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<(TimeKind, i64)> {
        parse_time(s.as_bytes())
    }

    #[test]
    fn clock_with_every_fraction_width() {
        assert_eq!(t("00:00:00"), Some((TimeKind::TimeOfDay, 0)));
        assert_eq!(t("08:21:44.9"), Some((TimeKind::TimeOfDay, 30_104_900_000)));
        assert_eq!(
            t("08:21:44.90"),
            Some((TimeKind::TimeOfDay, 30_104_900_000))
        );
        assert_eq!(
            t("23:59:59.999999"),
            Some((TimeKind::TimeOfDay, US_PER_DAY - 1))
        );
        assert_eq!(t("23:59:59.1234567"), None);
        assert_eq!(t("12:00:00."), None);
        assert_eq!(t("24:00:00"), None);
        assert_eq!(t("25:99:00"), None);
        assert_eq!(t("8:00:00"), None);
        assert_eq!(t("08:00:60"), None);
    }

    #[test]
    fn iso_dates_and_calendar_rules() {
        assert_eq!(t("1970-01-01T00:00:00"), Some((TimeKind::Local, 0)));
        assert_eq!(
            t("1970-01-02 00:00:00.5"),
            Some((TimeKind::Local, US_PER_DAY + 500_000))
        );
        assert_eq!(
            t("2026-10-05T08:23:01.08"),
            Some((TimeKind::Local, 1_791_188_581_080_000))
        );
        assert_eq!(
            t("1969-12-31T23:59:59"),
            Some((TimeKind::Local, -US_PER_SEC))
        );
        assert!(t("2024-02-29T00:00:00").is_some());
        assert!(t("2023-02-29T00:00:00").is_none());
        assert!(t("1900-02-29T00:00:00").is_none());
        assert!(t("2000-02-29T00:00:00").is_some());
        assert!(t("0000-01-01T00:00:00").is_none());
        assert!(t("2026-13-01T00:00:00").is_none());
        assert!(t("2026-10-05").is_none());
        assert!(t("2026-10-05X08:00:00").is_none());
        assert!(t("2026-10-05T08:00:00Z").is_none());
    }

    #[test]
    fn days_match_a_known_calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
    }

    #[test]
    fn epoch_seconds_and_milliseconds() {
        assert_eq!(
            t("1728134581.08"),
            Some((TimeKind::Unix, 1_728_134_581_080_000))
        );
        assert_eq!(
            t("1728134581"),
            Some((TimeKind::Unix, 1_728_134_581_000_000))
        );
        assert_eq!(t("0"), Some((TimeKind::Unix, 0)));
        assert_eq!(
            t("1728134581080"),
            Some((TimeKind::Unix, 1_728_134_581_080_000))
        );
        assert_eq!(
            t("999999999999999"),
            Some((TimeKind::Unix, 999_999_999_999_999_000))
        );
        assert_eq!(t("1000000000000000"), None);
        assert_eq!(t("172813458108.5"), None);
        assert_eq!(t("1728134581."), None);
        assert_eq!(t(".5"), None);
        assert_eq!(t("-1"), None);
        assert_eq!(t("+1"), None);
        assert_eq!(t(""), None);
        assert_eq!(t("1e9"), None);
    }
}
