//! SpamAssassin's lenient RFC 822 date reading (`Util::parse_rfc822_date`).
//!
//! Rules compare the times this produces, so the same inputs must give the
//! same seconds, including its quirks: the first `dd Mon yyyy` anywhere in
//! the text wins, unknown zone names count as UTC, out-of-range fields are
//! clamped, years are confined to 1970..=2037, and a day of 0 is rejected.

use std::sync::OnceLock;

use regex::bytes::Regex;

/// Zone abbreviations SpamAssassin knows, with their offsets.
const ZONES: &[(&str, i64)] = &[
    ("UT", 0),
    ("UTC", 0),
    ("NDT", -230),
    ("AST", -400),
    ("ADT", -300),
    ("NST", -330),
    ("EST", -500),
    ("EDT", -400),
    ("CST", -600),
    ("CDT", -500),
    ("MST", -700),
    ("MDT", -600),
    ("PST", -800),
    ("PDT", -700),
    ("HST", -1000),
    ("AKST", -900),
    ("AKDT", -800),
    ("HADT", -900),
    ("HAST", -1000),
    ("GMT", 0),
    ("BST", 100),
    ("IST", 100),
    ("WET", 0),
    ("WEST", 100),
    ("CET", 100),
    ("CEST", 200),
    ("EET", 200),
    ("EEST", 300),
    ("MSK", 300),
    ("MSD", 400),
    ("MET", 100),
    ("MEZ", 100),
    ("MEST", 200),
    ("MESZ", 200),
    ("BRST", -200),
    ("BRT", -300),
    ("AEST", 1000),
    ("AEDT", 1100),
    ("ACST", 930),
    ("ACDT", 1030),
    ("AWST", 800),
    ("NZST", 1200),
    ("NZDT", 1300),
    ("JST", 900),
    ("KST", 900),
    ("HKT", 800),
    ("SGT", 800),
    ("PHT", 800),
    ("IDT", 300),
];

const MONTHS: &str = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec";

struct Res {
    day_mon_year: Regex,
    mon_day_time_year: Regex,
    day_mon_short_year: Regex,
    time: Regex,
    numeric_zone: Regex,
    named_zone: Regex,
}

fn res() -> &'static Res {
    static R: OnceLock<Res> = OnceLock::new();
    R.get_or_init(|| {
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("date regex {s}: {e}"));
        Res {
            day_mon_year: re(&format!(r"(?i-u) ([0-9]+) ({MONTHS}) ([0-9]{{4}}) ")),
            mon_day_time_year: re(&format!(
                r"(?i-u) ({MONTHS}) +([0-9]+) [0-9]+:[0-9]+:[0-9]+ ([0-9]{{4}}) "
            )),
            day_mon_short_year: re(&format!(r"(?i-u) ([0-9]+) ({MONTHS}) ([0-9]{{2,3}}) ")),
            time: re(r"(?-u) ([0-9]?[0-9]):([0-9][0-9])(:([0-9][0-9]))? "),
            numeric_zone: re(r"(?-u) ([-+][0-9]{4}) "),
            named_zone: re(r"(?-u)\b([A-Z]{2,4}(?:-DST)?)\b"),
        }
    })
}

/// A decimal number as Perl reads it, saturating instead of overflowing.
fn num(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |n, &d| {
        n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    })
}

/// Remove the span of `m` from `s`, leaving one blank in its place.
fn cut(s: &mut Vec<u8>, start: usize, end: usize) {
    s.splice(start..end, [b' ']);
}

fn month_number(name: &[u8]) -> i64 {
    let lower = name.to_ascii_lowercase();
    MONTHS
        .split('|')
        .position(|m| m.as_bytes().eq_ignore_ascii_case(&lower))
        .map_or(0, |i| i as i64 + 1)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch for a date header (or any text containing a
/// date), or None when SpamAssassin would find no usable date.
pub fn parse_rfc822_date(date: &[u8]) -> Option<i64> {
    let r = res();
    // Pad with blanks, turn commas into blanks, squeeze whitespace.
    let mut s: Vec<u8> = Vec::with_capacity(date.len() + 2);
    s.push(b' ');
    let mut i = 0;
    while i < date.len() {
        let b = date[i];
        if b == b',' {
            s.push(b' ');
            i += 1;
            while date.get(i) == Some(&b' ') {
                i += 1;
            }
            continue;
        }
        s.push(b);
        i += 1;
    }
    s.push(b' ');
    let mut squeezed: Vec<u8> = Vec::with_capacity(s.len());
    for &b in &s {
        let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
        if ws {
            if squeezed.last() != Some(&b' ') {
                squeezed.push(b' ');
            }
        } else {
            squeezed.push(b);
        }
    }
    let mut s = squeezed;

    // The three date shapes, tried in this order: (pattern, day group,
    // month group); the year is group 3 in each.
    let shapes = [
        (&r.day_mon_year, 1, 2),
        (&r.mon_day_time_year, 2, 1),
        (&r.day_mon_short_year, 1, 2),
    ];
    let (mut dd, mut mon, mut yyyy, year_digits) = {
        let (c, day, month) = shapes
            .iter()
            .find_map(|(re, day, month)| re.captures(&s).map(|c| (c, *day, *month)))?;
        let fields = (
            num(&c[day]),
            month_number(&c[month]),
            num(&c[3]),
            c[3].len(),
        );
        let m = c.get(0)?;
        let (a, b) = (m.start(), m.end());
        cut(&mut s, a, b);
        fields
    };
    // RFC 2822's reading of two- and three-digit years.
    if year_digits == 2 && yyyy < 50 {
        yyyy += 2000;
    } else if year_digits != 4 {
        yyyy += 1900;
    }

    let (mut hh, mut mm, mut ss) = (0, 0, 0);
    if let Some(c) = r.time.captures(&s) {
        hh = num(&c[1]);
        mm = num(&c[2]);
        ss = c.get(4).map_or(0, |m| num(m.as_bytes()));
        let m = c.get(0)?;
        let (a, b) = (m.start(), m.end());
        cut(&mut s, a, b);
    }

    // Offset as +hhmm digits; unknown or missing zones are UTC.
    let mut zone: Option<(bool, i64, i64)> = None;
    if let Some(c) = r.numeric_zone.captures(&s) {
        let z = &c[1];
        zone = Some((z[0] == b'-', num(&z[1..3]), num(&z[3..5])));
    } else if let Some(c) = r.named_zone.captures(&s) {
        let name = String::from_utf8_lossy(&c[1]);
        if let Some(&(_, off)) = ZONES.iter().find(|(n, _)| *n == name) {
            zone = Some((off < 0, off.abs() / 100, off.abs() % 100));
        }
    }

    ss = ss.min(59);
    mm = mm.min(59);
    hh = hh.min(23);
    let max_dd = match mon {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(yyyy) => 29,
        2 => 28,
        _ => 31,
    };
    if dd > max_dd {
        // Rolled over to the first of the next month.
        dd = 1;
        mon += 1;
        if mon > 12 {
            mon = 1;
            yyyy += 1;
        }
    }
    yyyy = yyyy.clamp(1970, 2037);
    // Time::Local refuses day 0 (and a month it cannot name).
    if dd < 1 || !(1..=12).contains(&mon) {
        return None;
    }
    let mut time = days_from_civil(yyyy, mon, dd) * 86_400 + hh * 3600 + mm * 60 + ss;
    if let Some((negative, zh, zm)) = zone {
        let off = (zh * 60 + zm) * 60;
        if negative {
            time += off;
        } else if time < off {
            time = 0;
        } else {
            time -= off;
        }
    }
    Some(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from SpamAssassin 4.0.1's parse_rfc822_date.
    #[test]
    fn common_forms() {
        assert_eq!(
            parse_rfc822_date(b"Thu, 22 Aug 2002 18:26:25 +0700"),
            Some(1_030_015_585)
        );
        assert_eq!(
            parse_rfc822_date(b"Thu, 22 Aug 2002 18:26:25 EDT"),
            Some(1_030_055_185)
        );
        // The ctime form's time is swallowed with the date: midnight.
        assert_eq!(
            parse_rfc822_date(b"Thu Aug 22 18:26:25 2002"),
            Some(1_029_974_400)
        );
        assert_eq!(parse_rfc822_date(b"22 Aug 02 18:26"), Some(1_030_040_760));
        assert_eq!(parse_rfc822_date(b"no date here"), None);
        assert_eq!(parse_rfc822_date(b"0 Aug 2002 10:00:00"), None);
    }

    #[test]
    fn clamps_and_rolls_over() {
        // Day 31 of a 30-day month becomes the 1st of the next.
        assert_eq!(
            parse_rfc822_date(b"31 Sep 2002 00:00:00 +0000"),
            parse_rfc822_date(b"1 Oct 2002 00:00:00 +0000")
        );
        // Years after 2037 are 2037; hour 25 is 23.
        assert_eq!(
            parse_rfc822_date(b"1 Jan 2099 25:00:00 +0000"),
            Some(2_114_463_600)
        );
        // '+' zones never go before the epoch.
        assert_eq!(parse_rfc822_date(b"1 Jan 1960 00:00 +0100"), Some(0));
    }
}
