//! Timestamps as the course writes them (`%Y-%m-%dT%H:%M:%S%.6f`) and as SQLite holds them,
//! written and read digit by digit: the largest answers carry two per row.

use chrono::NaiveDateTime;
use serde::Serializer;

pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// Writes `%Y-%m-%dT%H:%M:%S%.6f` from the date's numbers, digit by digit: `format(...)`
/// re-parses the pattern for every value, and even `format_args!` cost 8 % of a search over
/// 500 places (two timestamps per row).
pub fn serialize_timestamp<S: Serializer>(
    value: &NaiveDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    fn digits(out: &mut [u8], mut n: u32) {
        for digit in out.iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    // chrono keeps a leap second as nanosecond >= 1e9 in second 59; strftime writes it as :60.
    let leap = value.nanosecond() >= 1_000_000_000;
    let micros = value.nanosecond() % 1_000_000_000 / 1_000;
    let second = value.second() + u32::from(leap);
    let Ok(year @ 0..=9999) = u32::try_from(value.year()) else {
        // Years strftime writes with a sign (rare: its own pattern is fine).
        return serializer.collect_str(&format_args!(
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
            value.format("%Y"),
            value.month(),
            value.day(),
            value.hour(),
            value.minute(),
            second,
            micros
        ));
    };
    let mut text = *b"0000-00-00T00:00:00.000000";
    digits(&mut text[0..4], year);
    digits(&mut text[5..7], value.month());
    digits(&mut text[8..10], value.day());
    digits(&mut text[11..13], value.hour());
    digits(&mut text[14..16], value.minute());
    digits(&mut text[17..19], second);
    digits(&mut text[20..26], micros);
    serializer.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
}

/// A timestamp as SQLite holds it: `YYYY-MM-DD HH:MM:SS[.ffffff]` as sqlx writes it (or with a
/// `T`), read from its digits; any other text sqlx accepts through chrono's parser (which reads
/// its format string again for every value: too slow for every row of a large answer).
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    fn number(digits: &[u8]) -> Option<u32> {
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    }
    let fast = || {
        let b = text.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let nanos = match &b[19..] {
            [] => 0,
            [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
                number(fraction)? * 10u32.pow(9 - fraction.len() as u32)
            }
            _ => return None,
        };
        let date = chrono::NaiveDate::from_ymd_opt(
            i32::try_from(number(&b[0..4])?).ok()?,
            number(&b[5..7])?,
            number(&b[8..10])?,
        )?;
        date.and_hms_nano_opt(
            number(&b[11..13])?,
            number(&b[14..16])?,
            number(&b[17..19])?,
            nanos,
        )
    };
    fast().or_else(|| {
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
            return Some(at.naive_utc());
        }
        [
            "%F %T%.f",
            "%F %R",
            "%FT%R",
            "%F %T%.fZ",
            "%FT%T%.fZ",
            "%F %RZ",
            "%FT%RZ",
        ]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn written(value: NaiveDateTime) -> String {
        let mut out = Vec::new();
        serialize_timestamp(&value, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_are_written_like_the_strftime_pattern() {
        let day = NaiveDate::from_ymd_opt(2017, 3, 25).unwrap();
        for (h, m, s, micro) in [
            (2, 17, 6, 0),
            (0, 0, 0, 1),
            (23, 59, 59, 999_999),
            (9, 5, 7, 120_000),
        ] {
            let value = day.and_hms_micro_opt(h, m, s, micro).unwrap();
            assert_eq!(
                written(value),
                format!("\"{}\"", value.format(TIMESTAMP_FORMAT)),
                "{value:?}"
            );
        }
        let early = NaiveDate::from_ymd_opt(987, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        assert_eq!(written(early), "\"0987-01-02T03:04:05.000000\"");
        // A leap second (nanosecond >= 1e9) is written as second 60, as strftime does.
        let leap = day.and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        assert_eq!(
            written(leap),
            format!("\"{}\"", leap.format(TIMESTAMP_FORMAT))
        );
    }

    #[test]
    fn years_past_four_digits_are_written_as_strftime_does() {
        for year in [-1, 10_000, 262_000] {
            let value = NaiveDate::from_ymd_opt(year, 12, 31)
                .unwrap()
                .and_hms_micro_opt(1, 2, 3, 4)
                .unwrap();
            assert_eq!(
                written(value),
                format!("\"{}\"", value.format(TIMESTAMP_FORMAT))
            );
        }
    }

    #[test]
    fn timestamps_are_read_as_sqlx_reads_them() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let at = |h, m, s, nano| day.and_hms_nano_opt(h, m, s, nano).unwrap();
        for (text, expected) in [
            ("2026-12-07 14:04:05.123456", at(14, 4, 5, 123_456_000)),
            ("2026-12-07T14:04:05.123456", at(14, 4, 5, 123_456_000)),
            ("2026-12-07 14:04:05", at(14, 4, 5, 0)),
            ("2026-12-07 14:04:05.5", at(14, 4, 5, 500_000_000)),
            ("2026-12-07 14:04:05.123456789", at(14, 4, 5, 123_456_789)),
            ("2026-12-07 14:04", at(14, 4, 0, 0)),
            ("2026-12-07T14:04:05Z", at(14, 4, 5, 0)),
            ("2026-12-07T15:04:05+01:00", at(14, 4, 5, 0)),
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        for text in [
            "",
            "2026-13-07 14:04:05",
            "2026-12-07 14:04:05.",
            "yesterday",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
        // What sqlx writes is read back whole.
        let now = crate::models::now();
        assert_eq!(
            parse_timestamp(&now.format("%F %T%.f").to_string()),
            Some(now)
        );
    }
}
