//! The calendar, in one place: IMAP date-time (`dd-Mon-yyyy hh:mm:ss +zzzz`) formatting and
//! parsing, day numbers, and RFC 5322 `Date:` values (read by mail-parser).

/// English month abbreviations, as IMAP, RFC 5322 and mbox `From ` lines write them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Earliest timestamp formatted as-is (0001-01-01T00:00:00Z).
const MIN_TS: i64 = -62_135_596_800;
/// Latest timestamp formatted as-is (9999-12-31T23:59:59Z).
const MAX_TS: i64 = 253_402_300_799;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March-based month 0..=11
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month 1..=12, day 1..=31) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The month (1..=12) a name starts with (`Nov`, `november`, any case).
pub fn month_from_name(name: &str) -> Option<u32> {
    let prefix = name.get(..3)?;
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(prefix))
        .map(|i| i as u32 + 1)
}

/// An RFC 5322 `Date:` value read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderDate {
    /// The instant, in unix seconds (UTC).
    pub unix: i64,
    /// The day as written (days since 1970-01-01), time and zone disregarded, as the
    /// SENT* search keys compare it (RFC 9051 §6.4.4).
    pub day: i64,
}

/// Reads a `Date:` field value (obsolete forms, comments and zone names included).
pub fn header_date(value: &[u8]) -> Option<HeaderDate> {
    let mut line = Vec::with_capacity(value.len() + 2);
    line.extend_from_slice(value);
    line.extend_from_slice(b"\r\n");
    let mail_parser::HeaderValue::DateTime(d) =
        mail_parser::parsers::MessageStream::new(&line).parse_date()
    else {
        return None;
    };
    if !d.is_valid() {
        return None;
    }
    Some(HeaderDate {
        unix: d.to_timestamp(),
        day: days_from_civil(i64::from(d.year), u32::from(d.month), u32::from(d.day)),
    })
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Formats a unix timestamp as an IMAP `date-time` in UTC, without the
/// surrounding quotes: `" 1-Jan-2024 00:00:00 +0000"` (the day is
/// space-padded, as `date-day-fixed` requires). Timestamps outside years
/// 1..=9999 are clamped.
pub fn format_date_time(ts: i64) -> String {
    format_date_time_with_offset(ts, 0)
}

/// Like [`format_date_time`] but shown in a zone `offset_minutes` east of UTC
/// (clamped to ±23:59).
pub fn format_date_time_with_offset(ts: i64, offset_minutes: i32) -> String {
    let offset = i64::from(offset_minutes.clamp(-1439, 1439));
    let local = ts.clamp(MIN_TS, MAX_TS).saturating_add(offset * 60);
    format_local(local.clamp(MIN_TS, MAX_TS), offset)
}

/// Formats a local time (seconds since 1970-01-01 in the zone, years
/// 0..=9999) shown in a zone `offset` minutes east of UTC (at most ±99:59).
fn format_local(local: i64, offset: i64) -> String {
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mon = MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.abs();
    format!(
        "{day:>2}-{mon}-{year:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        off / 60,
        off % 60
    )
}

/// Formats a day count since 1970-01-01 as an IMAP `date` (`d-Mon-yyyy`,
/// the day not padded), the inverse of [`parse_date`] with
/// [`days_from_civil`]. Days outside years 0..=9999 are clamped.
pub fn format_date(days: i64) -> String {
    let days = days.clamp(days_from_civil(0, 1, 1), days_from_civil(9999, 12, 31));
    let (year, month, day) = civil_from_days(days);
    let mon = MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    format!("{day}-{mon}-{year:04}")
}

/// Formats a unix timestamp as an IMAP `date-time` (without the quotes)
/// that [`parse_date_time`] reads back as exactly `ts`, for every timestamp
/// it can return: in UTC when that falls within years 0000..=9999, otherwise
/// in the nearest zone (up to ±99:59, which the `zone` syntax allows) that
/// brings the local time into that range. Other timestamps are clamped.
pub(crate) fn format_date_time_exact(ts: i64) -> String {
    /// Largest zone offset `+hhmm` can write, in minutes (99:59).
    const MAX_OFFSET: i64 = 99 * 60 + 59;
    let first = days_from_civil(0, 1, 1) * 86_400;
    let last = days_from_civil(10_000, 1, 1) * 86_400 - 1;
    let offset = if ts < first {
        first.saturating_sub(ts).saturating_add(59) / 60
    } else if ts > last {
        -(ts.saturating_sub(last).saturating_add(59) / 60)
    } else {
        0
    }
    .clamp(-MAX_OFFSET, MAX_OFFSET);
    let local = ts.saturating_add(offset * 60);
    if local == last + 1 {
        // Only the leap second `23:59:60` reaches past the year 9999.
        let zone = format_local(last, offset);
        return zone.replacen("23:59:59", "23:59:60", 1);
    }
    format_local(local.clamp(first, last), offset)
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0')),
    )
}

fn month_index(s: &[u8]) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.as_bytes().eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

/// Parses an IMAP `date` (`d-Mon-yyyy` or `dd-Mon-yyyy`) into
/// (year, month, day), validating the day against the month.
pub fn parse_date(s: &[u8]) -> Option<(i64, u32, u32)> {
    let mut it = s.split(|&b| b == b'-');
    let d = it.next()?;
    let m = it.next()?;
    let y = it.next()?;
    if it.next().is_some() || d.len() > 2 || y.len() != 4 {
        return None;
    }
    let day = digits(d)?;
    let month = month_index(m)?;
    let year = i64::from(digits(y)?);
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day))
}

/// Parses an IMAP `date-time` (with or without the surrounding quotes):
/// `dd-Mon-yyyy hh:mm:ss +zzzz`, the day possibly space-padded or one digit.
/// Returns the unix timestamp.
pub fn parse_date_time(s: &[u8]) -> Option<i64> {
    let s = s
        .strip_prefix(b"\"")
        .and_then(|r| r.strip_suffix(b"\""))
        .unwrap_or(s);
    let s = s.strip_prefix(b" ").unwrap_or(s);
    let mut parts = s.split(|&b| b == b' ');
    let date = parts.next()?;
    let time = parts.next()?;
    let zone = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let (year, month, day) = parse_date(date)?;
    let mut t = time.split(|&b| b == b':');
    let mut field = |max: u32| -> Option<i64> {
        let f = t.next()?;
        if f.len() != 2 {
            return None;
        }
        let v = digits(f)?;
        (v <= max).then_some(i64::from(v))
    };
    let (hh, mm, ss) = (field(23)?, field(59)?, field(60)?);
    if t.next().is_some() || zone.len() != 5 {
        return None;
    }
    let sign = match zone.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh = i64::from(digits(zone.get(1..3)?)?);
    let zm = i64::from(digits(zone.get(3..5)?)?);
    if zm > 59 {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(local - sign * (zh * 3600 + zm * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_known() {
        assert_eq!(format_date_time(0), " 1-Jan-1970 00:00:00 +0000");
        assert_eq!(
            format_date_time(1_700_000_000),
            "14-Nov-2023 22:13:20 +0000"
        );
        assert_eq!(format_date_time(951_782_400), "29-Feb-2000 00:00:00 +0000");
        assert_eq!(format_date_time(-1), "31-Dec-1969 23:59:59 +0000");
        assert_eq!(
            format_date_time_with_offset(1_700_000_000, -300),
            "14-Nov-2023 17:13:20 -0500"
        );
        // clamped, no panic
        assert!(format_date_time(i64::MAX).contains("9999"));
        assert!(format_date_time(i64::MIN).contains("0001"));
    }

    #[test]
    fn parse_known() {
        assert_eq!(
            parse_date_time(b"14-Nov-2023 22:13:20 +0000"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_date_time(b"\"14-Nov-2023 17:13:20 -0500\""),
            Some(1_700_000_000)
        );
        assert_eq!(parse_date_time(b" 1-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_date_time(b"1-jan-1970 01:00:00 +0100"), Some(0));
        for bad in [
            &b""[..],
            b"30-Feb-2020 00:00:00 +0000",
            b"14-Foo-2023 22:13:20 +0000",
            b"14-Nov-2023 24:00:00 +0000",
            b"14-Nov-2023 22:13 +0000",
            b"14-Nov-2023 22:13:20 0000",
            b"14-Nov-2023 22:13:20 +0060",
            b"14-Nov-23 22:13:20 +0000",
        ] {
            assert_eq!(
                parse_date_time(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_date(b"29-Feb-2024"), Some((2024, 2, 29)));
        assert_eq!(parse_date(b"29-Feb-2023"), None);
        assert_eq!(format_date(0), "1-Jan-1970");
        assert_eq!(format_date(19_782), "29-Feb-2024");
        assert_eq!(format_date(i64::MIN), "1-Jan-0000");
        assert_eq!(format_date(i64::MAX), "31-Dec-9999");
    }

    #[test]
    fn exact_date_times() {
        let first = days_from_civil(0, 1, 1) * 86_400;
        let last = days_from_civil(10_000, 1, 1) * 86_400 - 1;
        assert_eq!(format_date_time_exact(0), " 1-Jan-1970 00:00:00 +0000");
        assert_eq!(format_date_time_exact(first), " 1-Jan-0000 00:00:00 +0000");
        assert_eq!(
            format_date_time_exact(first - 61),
            " 1-Jan-0000 00:00:59 +0002"
        );
        assert_eq!(
            format_date_time_exact(last + 1),
            "31-Dec-9999 23:59:00 -0001"
        );
        let extremes = [
            (b"01-Jan-0000 00:00:00 +9959", first - 5999 * 60),
            (b"31-Dec-9999 23:59:60 -9959", last + 1 + 5999 * 60),
        ];
        for (wire, ts) in extremes {
            assert_eq!(parse_date_time(wire), Some(ts));
        }
        let (lowest, highest) = (first - 5999 * 60, last + 1 + 5999 * 60);
        for ts in (lowest..=highest)
            .step_by(987_654_321)
            .chain(lowest..first + 400)
            .chain(last - 400..=highest)
        {
            let s = format_date_time_exact(ts);
            assert_eq!(parse_date_time(s.as_bytes()), Some(ts), "{s}");
        }
        // Out of range: clamped, no panic.
        assert!(format_date_time_exact(i64::MIN).starts_with(" 1-Jan-0000"));
        assert!(format_date_time_exact(i64::MAX).starts_with("31-Dec-9999"));
    }

    #[test]
    fn round_trip_days() {
        for d in (-800_000i64..800_000).step_by(997) {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        for ts in (-10_000_000_000i64..10_000_000_000).step_by(123_456_789) {
            assert_eq!(parse_date_time(format_date_time(ts).as_bytes()), Some(ts));
        }
    }
}
